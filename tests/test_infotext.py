"""DNP settings ⇄ infotext text, written and read by the functions the WebUI script calls."""

from __future__ import annotations

import pytest

from lib_dnp.errors import DnpError
from lib_dnp.infotext import (
    CAPTION_KEY,
    ERROR_KEY,
    SETTINGS_KEY,
    params_from_infotext,
    parse_settings_text,
    settings_text,
)
from lib_dnp.params import DnpParams, DnpParamsError, parse_params
from lib_dnp.pipeline import ImageResult
from lib_dnp.webui import generation


class FakeP:
    """What `generation.apply_results` reads and writes of a WebUI processing object (one image)."""

    def __init__(self):
        self.all_negative_prompts = ["blurry"]
        self.enable_hr = False
        self.extra_generation_params: dict = {}
        self.batch_size, self.iteration = 1, 0

    def comment(self, text):
        pass


def written(params: DnpParams, result: ImageResult, monkeypatch) -> dict:
    """The infotext keys the script writes for one image, as the WebUI evaluates them when it saves the image."""
    from tests.test_webui_adapter import use_word_chunks

    use_word_chunks(
        monkeypatch
    )  # words as CLIP tokens, chunked the WebUI's way, instead of the WebUI's chunker
    p = FakeP()
    generation.apply_results(p, params, [result])
    fields = {}
    for key, value in p.extra_generation_params.items():
        value = value(p=p, index=0, all_negative_prompts=p.all_negative_prompts) if callable(value) else value
        if value is not None:  # the WebUI leaves out keys whose value is None
            fields[key] = str(value)
    return fields


def test_defaults_write_only_the_mode():
    assert settings_text(DnpParams(enabled=True)) == "mode=auto"


def test_non_defaults_are_written_in_field_order():
    params = parse_params({"enabled": True, "dns_scale": 5.0, "composition": "prepend", "max_tokens": 20})
    assert settings_text(params) == "mode=auto; dns_scale=5.0; composition=prepend; max_tokens=20"


def test_outputs_and_cache_flags_are_not_written():
    params = parse_params({"enabled": True, "cache": False, "return_dns_images": True})
    assert settings_text(params) == "mode=auto"


@pytest.mark.parametrize(
    "data",
    [
        {"enabled": True},
        {
            "enabled": True,
            "dns_scale": 3.5,
            "dns_steps": 0.25,
            "captioner": "Salesforce/blip-image-captioning-base",
        },
        {"enabled": True, "captioner": 'C:\\models\\my;weird="captioner" '.strip(), "num_beams": 3},
        {"enabled": True, "composition": "replace", "max_tokens": 1},
    ],
)
def test_round_trip(data, monkeypatch):
    params = parse_params(data)
    fields = written(
        params, ImageResult(0, "blurry, a red brick house", caption="a red brick house"), monkeypatch
    )
    assert fields[CAPTION_KEY] == "a red brick house"
    assert params_from_infotext(fields) == params


def test_manual_round_trip_restores_the_caption_as_the_manual_caption(monkeypatch):
    params = parse_params({"enabled": True, "mode": "manual", "captions": ["one", "two"]})
    fields = written(params, ImageResult(0, "blurry, two", caption="two"), monkeypatch)
    restored = params_from_infotext(fields)
    assert restored.mode == "manual" and restored.captions == ["two"]


def test_a_failed_image_carries_the_error_and_no_caption(monkeypatch):
    result = ImageResult(0, "blurry", failure=DnpError("[DNP] captioner missing"))
    fields = written(DnpParams(enabled=True), result, monkeypatch)
    assert fields == {SETTINGS_KEY: "mode=auto", ERROR_KEY: "[DNP] captioner missing"}


def test_no_dnp_key_means_no_params():
    assert params_from_infotext({"Steps": "20"}) is None


@pytest.mark.parametrize("text", ["bogus=1", "mode=auto; dns_scale=abc", "mode=auto; =3"])
def test_bad_settings_text_is_refused(text):
    with pytest.raises(DnpParamsError):
        params_from_infotext({SETTINGS_KEY: text})


def test_parse_settings_text_types():
    assert parse_settings_text('mode=manual; dns_scale=none; captioner="a;b"') == {
        "enabled": True,
        "mode": "manual",
        "dns_scale": None,
        "captioner": "a;b",
    }
