"""The "DNP" section of Settings, through the WebUI's own /sdapi/v1/options: its options and defaults, applied
without a restart, and the command-line flags winning where given."""

from __future__ import annotations

import pytest

from lib_dnp.infotext import parse_settings_text

from .fixtures.testext import BASE, dnp, start_medvram_webui
from .harness import field

DEFAULTS = {
    "dnp_default_captioner": "blip-large",
    "dnp_default_preset": "faithful",
    "dnp_cache_size": 32,
    "dnp_keep_captioner": True,
    "dnp_captioner_device": "",
    "dnp_api_may_download": False,
}


@pytest.fixture
def options(webui):
    """Set options on the shared WebUI for one test, and put them back after it."""
    before = webui.get("/sdapi/v1/options").json()
    changed: list[str] = []

    def set_options(**values):
        changed.extend(values)
        r = webui.post("/sdapi/v1/options", json=values)
        assert r.status_code == 200, r.text

    yield set_options
    webui.post("/sdapi/v1/options", json={key: before[key] for key in changed})


def cache_capacity(server) -> int:
    return server.get("/dnp/v1/status").json()["cache"]["images"]["max_entries"]


def test_dnp_section_lists_its_options_with_their_defaults(webui):
    values = webui.get("/sdapi/v1/options").json()
    assert {key: values.get(key) for key in DEFAULTS} == DEFAULTS
    # the defaults of the captioner and the preset are the params model's own
    schema = webui.get("/dnp/v1/schema").json()["schema"]["properties"]
    assert schema["captioner"]["default"] == values["dnp_default_captioner"]
    assert schema["preset"]["default"] == values["dnp_default_preset"]


def test_cache_size_applies_without_restart(webui, options):
    assert cache_capacity(webui) == DEFAULTS["dnp_cache_size"]
    options(dnp_cache_size=2)
    assert cache_capacity(webui) == 2


def test_keep_captioner_off_frees_it_after_each_generation(webui, options, captioner):
    webui.txt2img(**BASE, alwayson_scripts=dnp(captioner))
    assert webui.get("/dnp/v1/status").json()["captioner"] is not None
    options(dnp_keep_captioner=False)
    assert webui.get("/dnp/v1/status").json()["captioner"] is None  # freed when the option was turned off
    r = webui.txt2img(**{**BASE, "seed": 8}, alwayson_scripts=dnp(captioner))
    assert webui.info(r)["dnp"]["captions"][0]  # captioned, then freed
    assert webui.get("/dnp/v1/status").json()["captioner"] is None


def test_command_line_flag_wins_over_the_setting(webui_servers, webui_assets, captioner):
    server = start_medvram_webui(webui_servers, webui_assets)  # started with --dnp-cache-size 3
    assert cache_capacity(server) == 3
    r = server.post("/sdapi/v1/options", json={"dnp_cache_size": 50})
    assert r.status_code == 200, r.text
    try:
        assert server.get("/sdapi/v1/options").json()["dnp_cache_size"] == 50
        assert cache_capacity(server) == 3
    finally:
        server.post("/sdapi/v1/options", json={"dnp_cache_size": DEFAULTS["dnp_cache_size"]})


def test_default_captioner_and_preset_serve_requests_that_leave_them_out(webui, options, captioner):
    # This offline WebUI cannot load the params model's default captioner (blip-large), so a caption proves that
    # the owner's Settings › DNP choice was used; the infotext names what ran.
    options(dnp_default_captioner=captioner, dnp_default_preset="fast")
    fields = {k: v for k, v in dnp(captioner)["DNP"]["args"][0].items() if k != "captioner"}
    r = webui.txt2img(**{**BASE, "seed": 21}, alwayson_scripts={"DNP": {"args": [fields]}})
    info = webui.info(r)
    assert info["dnp"]["captions"][0] and info["dnp"]["errors"] == [None], info["dnp"]
    used = parse_settings_text(field(webui.infotexts(r)[0], "DNP"))
    assert (used["captioner"], used["preset"]) == (captioner, "fast"), used
    # what an omitted field gets is what the server describes
    assert webui.get("/dnp/v1/captioners").json()["default"] == captioner
    schema = webui.get("/dnp/v1/schema").json()["schema"]["properties"]
    assert (schema["captioner"]["default"], schema["preset"]["default"]) == (captioner, "fast")
