"""Forge starts with the extension, loads the Forge checkpoint and generates (the A1111 smoke tests, on Forge)."""

from webui.test_smoke import (  # noqa: F401  (collected here, run against Forge)
    test_plain_webui_generates_the_same_image,
    test_same_seed_same_pixels,
    test_scripts_endpoint,
    test_txt2img_returns_one_png,
)
