"""The DNP accordion in a real browser (headless Chromium) against a real WebUI in UI mode (issue 13 item 6,
issue 14 item 2): what the user sees is what runs.

One WebUI serves the module, started with a ui-config.json of saved defaults (Settings › Defaults): txt2img at
64x64, 4 steps, and for DNP: enabled, manual mode, a caption. The first test checks those defaults are shown *and*
used; the others start from them. Each test names the finding of issue 13/14 it covers in its docstring.
"""

from __future__ import annotations

import pytest

from .browser import Page, new_driver, write_ui_config
from .harness import field, negative_of

NOT_RUN = "DNP did not run for the last generation."

SAVED_CAPTION = "a red fish"
UI_CONFIG = {
    "txt2img/Width/value": 64,
    "txt2img/Height/value": 64,
    "customscript/sampler.py/txt2img/Sampling steps/value": 4,
    "customscript/sampler.py/txt2img/Sampling method/value": "Euler a",
    "customscript/dnp.py/txt2img/DNP/value": True,
    "customscript/dnp.py/txt2img/Mode/value": "manual",
    "customscript/dnp.py/txt2img/Caption, image 1, or every image/value": SAVED_CAPTION,
}


@pytest.fixture(scope="module")
def server(webui_servers, tmp_path_factory):
    config = write_ui_config(tmp_path_factory.mktemp("ui-config") / "ui-config.json", UI_CONFIG)
    return webui_servers.get("dnp-browser", ui=True, args=("--ui-config-file", str(config)))


@pytest.fixture(scope="module")
def local_captioner(webui_assets, captioner):
    """The tiny captioner as a folder relative to the WebUI (what a user types, and what the screenshots show)."""
    link = webui_assets.webui_dir / "models" / "dnp-test-captioner"
    if link.is_symlink():
        link.unlink()
    link.symlink_to(captioner, target_is_directory=True)
    yield "./models/dnp-test-captioner"
    link.unlink()


@pytest.fixture(scope="module")
def driver():
    driver = new_driver()
    yield driver
    driver.quit()


@pytest.fixture
def page(driver, server) -> Page:
    return Page(driver, server).open()


def test_saved_ui_config_defaults_are_shown_and_used(page):
    """Finding: with Enable DNP = on saved in ui-config, the box was ticked but generation ran without DNP."""
    assert page.header_checkbox().is_selected() and page.accordion_open()
    assert page.checked("mode", "manual")
    page.wait(lambda: page.shown(page.dnp("caption_1")), "the caption box of manual mode (ui-config)")
    assert page.value(page.dnp("caption_1")) == SAVED_CAPTION
    text = page.generate()
    assert field(text, "DNP") and "mode=manual" in field(text, "DNP"), text
    assert negative_of(text) == SAVED_CAPTION and field(text, "DNP caption") == SAVED_CAPTION


def test_the_header_checkbox_shows_and_sets_whether_dnp_runs(page):
    """Finding: collapsed, the accordion did not show whether DNP is on."""
    page.screenshot("accordion-open")
    page.header_checkbox().click()
    assert not page.header_checkbox().is_selected()
    assert field(page.generate(), "DNP") is None
    page.header_checkbox().click()
    page.toggle_accordion()  # collapsed: the header still holds the ticked box, and DNP still runs
    page.wait(lambda: not page.accordion_open(), "the accordion to close")
    assert page.header_checkbox().is_displayed() and page.header_checkbox().is_selected()
    page.screenshot("accordion-closed")
    assert field(page.generate(), "DNP caption") == SAVED_CAPTION


@pytest.mark.parametrize("slow", [False, True], ids=["fast-link", "slow-link"])
def test_typed_values_are_used_when_generate_is_clicked_at_once(page, captioner, slow):
    """Finding: typing a captioner path (or a caption) and clicking Generate right away ran with the path minus
    its last character, and with a slow link with a prefix of it; an edited caption could be lost the same way."""
    edited = SAVED_CAPTION + " and a blue bird"
    page.replace_text(page.dnp("caption_1"), edited)
    if slow:
        page.slow_link()
    try:
        text = page.generate()
        assert negative_of(text) == edited and field(text, "DNP caption") == edited, text
        page.choose("mode", "auto")
        page.replace_text(page.dnp("captioner"), captioner)
        text = page.generate()
    finally:
        page.slow_link(False)
    assert f"captioner={captioner}" in field(text, "DNP"), text
    assert field(text, "DNP caption") and field(text, "DNP caption") != edited


def test_preview_edit_generate_with_a_caption_per_image(page, local_captioner):
    """Findings: Preview said "set Mode to manual" instead of doing it; the captions sat above the Preview button
    and the DNS images they belong to, one text box for all; the gallery was empty on a cache hit."""
    page.choose("mode", "auto")
    page.wait(lambda: not page.shown(page.dnp("captions")), "the captions to hide in auto mode")
    page.replace_text(page.dnp("captioner"), local_captioner)
    page.set_number("#txt2img_batch_size", 2)
    page.set_number("#txt2img_seed", 21)
    page.find(page.dnp("preview")).click()
    page.wait(lambda: page.gallery_count(page.dnp("gallery")) == 2, "the two DNS images of the preview")
    page.wait(lambda: page.value(page.dnp("caption_2")), "the second image's caption")
    assert page.checked("mode", "manual") and page.header_checkbox().is_selected()
    assert page.shown(page.dnp("caption_2")) and not page.shown(page.dnp("caption_3"))
    assert "Seed 21" in page.status()
    page.screenshot("accordion-preview")
    first, second = page.value(page.dnp("caption_1")), page.value(page.dnp("caption_2")) + ", edited"
    page.replace_text(page.dnp("caption_2"), second)
    text = page.generate()
    assert negative_of(text) == first  # the first result is the grid, with the first image's negative
    assert negative_of(page.select_result(2)) == second
    page.wait(lambda: f"Image 2: {second}" in page.status(), "this generation's captions in the accordion")
    # no DNP: the gallery is cleared; then the same images in auto mode, twice: the second time both captions
    # and DNS images come from the cache, and the gallery still shows the DNS images
    page.header_checkbox().click()
    page.generate()
    page.wait(
        lambda: page.status() == NOT_RUN and page.gallery_count(page.dnp("gallery")) == 0, "a clear gallery"
    )
    page.header_checkbox().click()
    page.choose("mode", "auto")
    for negative in ("", "blurry"):  # the user's negative is not part of the DNS pass: a cache hit
        page.replace_text("#txt2img_neg_prompt", negative)
        page.generate()
        page.wait(lambda: page.gallery_count(page.dnp("gallery")) == 2, "the DNS images in the gallery")
        page.wait(lambda: page.status().startswith("Image 1: "), "the captions in the accordion")
        if negative == "":
            page.header_checkbox().click()
            page.generate()
            page.wait(lambda: page.status() == NOT_RUN, "a clear gallery")
            page.header_checkbox().click()


def test_pasted_parameters_restore_the_accordion(page, captioner):
    """Paste-back of an image's parameters sets every DNP control the infotext holds, and regenerates it."""
    page.choose("mode", "auto")
    page.replace_text(page.dnp("captioner"), captioner)
    page.choose("composition", "prepend")
    page.find(page.dnp("advanced")).find_element("css selector", ".label-wrap").click()
    page.tick("dns_scale_set")
    page.wait(lambda: page.shown(page.dnp("dns_scale")), "the DNS scale slider")
    page.set_number(page.dnp("dns_scale"), 4)
    page.replace_text("#txt2img_neg_prompt", "blurry")
    original = page.generate()
    assert "dns_scale=4.0" in field(original, "DNP") and negative_of(original).endswith(", blurry")

    page.open()  # a fresh page: the saved defaults (manual mode, append, no own DNS scale)
    page.js(
        "var el = document.querySelector('#txt2img_prompt textarea'); el.value = arguments[0]; updateInput(el);",
        original,
    )
    page.find("#tab_txt2img #paste").click()
    page.wait(lambda: page.checked("composition", "prepend"), "the pasted composition")
    assert page.checked("mode", "auto") and page.value(page.dnp("captioner")) == captioner
    assert page.value("#txt2img_neg_prompt") == "blurry"  # the user's own negative, without the caption
    assert page.find(f"{page.dnp('dns_scale_set')} input").is_selected()
    again = page.generate()
    assert again == original


def test_no_javascript_errors_from_dnps_controls(page):
    page.choose("mode", "auto")
    page.find(page.dnp("advanced")).find_element("css selector", ".label-wrap").click()
    page.choose("rerank", "image")
    page.wait(lambda: page.shown(page.dnp("candidates")), "the candidates slider with re-ranking on")
    page.tick("dns_size_set")
    page.wait(lambda: page.shown(page.dnp("dns_size")), "the DNS size slider")
    page.find(page.dnp("unload")).click()
    page.wait(lambda: page.status(), "the unload status")
    errors = [e for e in page.console_errors() if "dnp" in e["message"].lower()]
    assert errors == [], errors
    for slot in ("mode", "captioner", "preset", "composition", "caption_1", "rerank", "preview", "gallery"):
        assert page.find(page.dnp(slot)).get_attribute("title"), f"no tooltip on {slot}"
    assert page.header_checkbox().get_attribute("title")


def test_each_browser_session_sees_only_its_own_generations(page, server, captioner):
    """Finding (issue 14.2): the accordion's last DNS images and captions were one process-wide value, so another
    session's or an API request's images and captions appeared in it, and stayed after a run without DNP."""
    other = Page(new_driver(), server)
    try:
        other.open()
        other.choose("mode", "auto")
        other.replace_text(other.dnp("captioner"), captioner)
        other_text = other.generate()
        other.wait(lambda: other.gallery_count(other.dnp("gallery")) == 1, "the other session's DNS image")
        assert field(other_text, "DNP caption") in other.status()

        server.txt2img(
            prompt="a dog", steps=4, width=64, height=64, seed=5,
            alwayson_scripts={"DNP": {"args": [{"enabled": True, "captioner": captioner}]}},
        )  # fmt: skip
        page.header_checkbox().click()  # this session: DNP off
        assert field(page.generate(), "DNP") is None
        page.wait(lambda: page.status() == NOT_RUN, "this session's own (empty) DNP result")
        assert page.gallery_count(page.dnp("gallery")) == 0

        page.header_checkbox().click()
        text = page.generate()  # manual mode, the saved caption
        page.wait(lambda: SAVED_CAPTION in page.status(), "this session's caption")
        assert field(other_text, "DNP caption") not in page.status()
        assert field(other_text, "DNP caption") in other.status()  # and the other session still shows its own
        assert field(text, "DNP caption") == SAVED_CAPTION
    finally:
        other.driver.quit()
