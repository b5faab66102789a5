"""X/Y/Z plot axes on Forge (the A1111 tests, run against Forge)."""

from webui.test_xyz import (  # noqa: F401  (collected here, run against Forge)
    test_a_cfg_axis_reuses_the_dns_pass_per_seed,
    test_a_dnp_axis_gives_cells_with_its_values,
    test_axes_exist_in_api_only_and_ui_mode,
    test_bad_axis_values_get_422_before_the_grid,
    test_enable_axis_cells_carry_their_own_dnp_infotext_and_paste_back,
)
