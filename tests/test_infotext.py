"""DNP settings ⇄ infotext text."""

from __future__ import annotations

import pytest

from lib_dnp.infotext import (
    CAPTION_KEY,
    ERROR_KEY,
    SETTINGS_KEY,
    image_fields,
    params_from_infotext,
    parse_settings_text,
    settings_text,
)
from lib_dnp.params import DnpParams, DnpParamsError, parse_params


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
def test_round_trip(data):
    params = parse_params(data)
    fields = image_fields(params, caption="a red brick house", error=None)
    assert params_from_infotext(fields) == params


def test_manual_round_trip_restores_the_caption_as_the_manual_caption():
    params = parse_params({"enabled": True, "mode": "manual", "captions": ["one", "two"]})
    fields = image_fields(params, caption="two", error=None)
    restored = params_from_infotext(fields)
    assert restored.mode == "manual" and restored.captions == ["two"]


def test_image_fields_carry_caption_and_error():
    fields = image_fields(DnpParams(enabled=True), caption=None, error="captioner missing")
    assert fields == {SETTINGS_KEY: "mode=auto", ERROR_KEY: "captioner missing"}
    assert CAPTION_KEY in image_fields(DnpParams(enabled=True), caption="x", error=None)


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
