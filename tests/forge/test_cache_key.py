"""The DNS cache key on Forge: what can change a DNS image misses, the rest hits (the A1111 tests, run against
Forge through the test-only extension).

Left out: the LoRA file replaced under its name, which needs the tiny LoRA that only A1111's ldm can build."""

from webui.test_cache_key import (  # noqa: F401  (collected here, run against Forge)
    test_each_option_the_dns_pass_reads_misses,
    test_main_pass_only_settings_hit,
    warm,
)
