"""img2img on Forge (the A1111 tests, run against Forge)."""

from webui.test_img2img import (  # noqa: F401  (collected here, run against Forge)
    img2img_payload,
    test_img2img_dns_pass_is_the_txt2img_dns_pass_at_the_same_seeds,
    test_img2img_image_equals_a_plain_img2img_with_its_reported_negative,
    test_the_script_is_in_img2img,
)
