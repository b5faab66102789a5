"""eq. 19 through Forge's own CFG arithmetic (the A1111 test, run against Forge)."""

from webui.test_webui_cfg import (  # noqa: F401  (collected here, run against Forge)
    test_webui_cfg_combination_at_s_plus_one_on_swapped_conds_is_eq19,
)
