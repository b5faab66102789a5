"""DNP's settings on Forge: its options section, applied without restart, the command-line flag wins (the A1111
tests, run against Forge)."""

from webui.test_settings import (  # noqa: F401  (collected here, run against Forge)
    options,
    test_cache_size_applies_without_restart,
    test_command_line_flag_wins_over_the_setting,
    test_default_captioner_and_preset_serve_requests_that_leave_them_out,
    test_dnp_section_lists_its_options_with_their_defaults,
    test_keep_captioner_off_frees_it_after_each_generation,
)
