"""Interrupt and Skip during the DNS pass and during captioning on Forge (the A1111 tests, run against Forge)."""

from webui.test_interrupt import (  # noqa: F401  (collected here, run against Forge)
    test_interrupt_during_captioning,
    test_interrupt_during_the_dns_pass,
    test_skip_during_captioning,
    test_skip_during_the_dns_pass,
)
