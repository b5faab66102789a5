"""The DNS pass is eq. 19 whatever Forge's options, and the main pass keeps them (the A1111 tests, run against Forge)."""

from webui.test_dns_options import (  # noqa: F401  (collected here, run against Forge)
    test_dns_pass_is_eq19_whatever_the_option_and_the_main_pass_keeps_it,
    test_outer_override_settings_stay_in_effect_for_the_main_pass_and_are_left_as_without_dnp,
)
