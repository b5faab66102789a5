"""The DNS pass sees the prompts another script's process wrote, whichever runs first, on Forge (the A1111 test)."""

from webui.test_order import (  # noqa: F401  (collected here, run against Forge)
    test_dns_pass_sees_the_prompts_another_scripts_process_wrote,
)
