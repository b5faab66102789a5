"""The DNP accordion in Forge's gradio 4 UI: built, wired, Preview over gradio (the A1111 tests, run against
Forge). What a user does with it in a browser is test_browser.py."""

from webui.test_dnp import (  # noqa: F401  (collected here, run against Forge)
    test_preview_button_over_gradio,
    test_ui_mode_builds_the_accordion,
    test_ui_mode_wires_preview_unload_and_last_results,
)
