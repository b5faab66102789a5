"""The DNP accordion in a real browser (headless Chromium) against Forge in UI mode: the A1111 browser tests,
run against Forge's gradio 4 page (see tests/webui/test_browser.py for what each covers)."""

from webui.test_browser import (  # noqa: F401  (collected here, run against Forge)
    driver,
    local_captioner,
    page,
    server,
    test_each_browser_session_sees_only_its_own_generations,
    test_no_javascript_errors_from_dnps_controls,
    test_pasted_parameters_restore_the_accordion,
    test_preview_edit_generate_with_a_caption_per_image,
    test_saved_ui_config_defaults_are_shown_and_used,
    test_the_header_checkbox_shows_and_sets_whether_dnp_runs,
    test_typed_values_are_used_when_generate_is_clicked_at_once,
)
