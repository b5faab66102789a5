"""Isolation, the DNS cache and identity on Forge (the A1111 tests, run against Forge).

Left out: the 50-request memory test, A1111's measurement (Forge's resident memory is its own
memory manager's business, and the test takes minutes on the shared CPU).
"""

from webui.test_isolation import (  # noqa: F401  (collected here, run against Forge)
    test_anything_that_changes_the_dns_image_misses_the_cache,
    test_consecutive_and_concurrent_requests_keep_their_own_captions,
    test_disabled_dnp_changes_no_pixel,
    test_main_pass_settings_hit_the_cache,
)
