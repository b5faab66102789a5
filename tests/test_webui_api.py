"""The API request checks, X/Y/Z value checks and the `dnp` info entry, without a WebUI (the real-WebUI tests in
tests/webui/test_api.py and test_xyz.py drive the same code over HTTP)."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lib_dnp.params import FIELDS
from lib_dnp.webui import api, generation, xyz


def problems(entry, **body):
    return api.request_problems({"alwayson_scripts": {"DNP": entry}, **body}, "txt2img")


def test_good_requests_have_no_problems():
    assert problems({"args": [{"enabled": True, "dns_scale": 5.0}]}) == []
    assert problems({"args": []}) == [] and problems({}) == []
    assert api.request_problems({"prompt": "no DNP entry"}, "txt2img") == []
    assert api.request_problems(["not", "an", "object"], "txt2img") == []  # FastAPI's own validation answers
    manual = {"args": [{"enabled": True, "mode": "manual", "captions": ["a", "b", "c", "d"]}]}
    assert problems(manual, batch_size=2, n_iter=2) == []


@pytest.mark.parametrize(
    "entry, body, loc, words",
    [
        ({"args": [{"dns_scale": 0.5}]}, {}, ["args", 0, "dns_scale"], ">= 1.0"),
        ({"args": [{"nope": 1}]}, {}, ["args", 0, "nope"], "unknown field"),
        ({"args": {"enabled": True}}, {}, ["args"], "expected a list"),
        ({"args": [1, 2]}, {}, ["args"], "no positional values"),
        ({"args": "x"}, {}, ["args"], "got str"),
        ({"argz": []}, {}, [], "unknown key(s) argz"),
        (None, {}, [], "expected an object"),
        (
            {"args": [{"enabled": True, "mode": "manual", "captions": ["a", "b"]}]},
            {"batch_size": 3},
            ["args", 0, "captions"],
            "expected 1 caption or 3",
        ),
    ],
)
def test_bad_requests_name_the_place_and_what_is_allowed(entry, body, loc, words):
    ((where, message),) = problems(entry, **body)
    assert where == ["body", "alwayson_scripts", "DNP", *loc] and words in message
    (detail,) = api.error_detail([(where, message)])
    assert detail["loc"] == where and detail["msg"] == f"[DNP] {message}"
    assert detail["field"] == str(where[-1])


def test_the_entry_is_found_without_regard_to_case():
    body = {"alwayson_scripts": {"Dnp": {"args": [{"mode": "?"}]}}}
    ((where, _),) = api.request_problems(body, "txt2img")
    assert where[:3] == ["body", "alwayson_scripts", "Dnp"]


def test_xyz_problems_are_asked_only_for_the_xyz_script():
    asked = []

    def checker(args, tab, captioner_check=None):
        asked.append((args, tab))
        return [(["body", "script_args", 1], "bad")]

    body = {"script_name": "X/Y/Z plot", "script_args": [1, "2"]}
    assert api.request_problems(body, "img2img", checker) == [(["body", "script_args", 1], "bad")]
    assert asked == [([1, "2"], "img2img")]
    assert api.request_problems({"script_name": "prompt matrix", "script_args": []}, "txt2img", checker) == []


def test_xyz_axes_come_from_the_params_model():
    fields = xyz.axis_fields()
    assert {"enabled", "mode", "dns_scale", "dns_steps", "captioner", "composition", "preset"} <= set(fields)
    assert "captions" not in fields and "cache" not in fields
    assert xyz.label("dns_scale") == "[DNP] DNS scale"


def test_xyz_cell_values_convert_like_the_ui():
    assert xyz.cell_value("enabled", "False") is False
    assert xyz.cell_value("dns_scale", 0.0) is None  # 0 = unset (the CFG scale), as on the slider
    assert xyz.cell_value("dns_scale", 5.0) == 5.0
    assert xyz.cell_value("composition", "prepend") == "prepend"
    assert xyz.check_values("dns_scale", [3.0, 0.0]) == []
    (message,) = xyz.check_values("dns_scale", [3.0, 99.0])
    assert "[DNP] DNS scale value 99.0" in message and "<= 30.0" in message
    (message,) = xyz.check_values("captioner", ["blip-larg"])
    assert "not a captioner key" in message


class FakeProcessed:
    def __init__(self):
        self.infotexts = ["one"]

    def js(self):
        return json.dumps({"infotexts": self.infotexts})


def test_the_dnp_info_entry_belongs_to_its_own_processed_object():
    processed = FakeProcessed()
    generation._add_info(processed, {"captions": ["a cat"]})
    assert json.loads(processed.js()) == {"infotexts": ["one"], "dnp": {"captions": ["a cat"]}}
    assert isinstance(processed, FakeProcessed)
    # the X/Y/Z plot builds its grid result from a shallow copy of the first cell's
    grid = copy.copy(processed)
    grid.infotexts = ["grid", "one", "two"]
    assert json.loads(grid.js()) == {"infotexts": ["grid", "one", "two"]}
    generation._add_info(grid, {"captions": ["x"]})  # adding twice does not stack subclasses
    assert type(grid) is type(processed) and json.loads(grid.js())["dnp"] == {"captions": ["x"]}


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**6) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
FIELD_VALUES = st.dictionaries(st.sampled_from([*FIELDS, "bogus"]), JSON, max_size=5)


@settings(max_examples=300, deadline=None)
@given(
    entry=st.one_of(
        JSON, st.fixed_dictionaries({"args": st.one_of(JSON, st.lists(FIELD_VALUES, max_size=2))})
    )
)
def test_any_dnp_entry_is_accepted_or_refused_with_named_problems(entry):
    """Hostile payloads never raise in the check: they pass (and then validate) or every problem is located."""
    found = problems(entry, batch_size=2)
    for where, message in found:
        assert where[:3] == ["body", "alwayson_scripts", "DNP"] and message
    if not found and isinstance(entry, dict) and entry.get("args"):
        generation.params_for(object(), entry["args"][0])  # what the script will do with it: no error


class FakeAxisOption:
    def __init__(self, label, type, apply, format_value, confirm, choices):
        self.label, self.type, self.apply = label, type, apply
        self.format_value, self.confirm, self.choices = format_value, confirm, choices


def test_xyz_axes_apply_confirm_and_label_their_values():
    fake_xyz = type("xyz_grid", (), {"AxisOption": FakeAxisOption})
    scale = xyz._axis(fake_xyz, "dns_scale")
    assert scale.type is float and scale.choices is None
    # the legend: 0 is the unset value, shown by what it means
    assert scale.format_value(None, scale, 0.0) == "[DNP] DNS scale: CFG scale"
    assert scale.format_value(None, scale, 4.5) == "[DNP] DNS scale: 4.5"
    with pytest.raises(RuntimeError, match="99.0"):
        scale.confirm(None, [3.0, 99.0])
    cell, first = type("P", (), {})(), {}
    cell._dnp_overrides = first
    scale.apply(cell, 4.5, [4.5])
    assert cell._dnp_overrides == {"dns_scale": 4.5} and first == {}  # a new dict: cells never share one
    enabled = xyz._axis(fake_xyz, "enabled")
    assert enabled.type is str and enabled.choices() == ["True", "False"]
    assert xyz._axis(fake_xyz, "composition").choices() == ["append", "prepend", "replace"]


def test_a_refused_captioner_is_a_problem_naming_captioner():
    def refuse_hub_ids(spec):
        return None if spec == "blip-large" else f"captioner {spec!r} is not available to API requests"

    allowed = {"alwayson_scripts": {"DNP": {"args": [{"enabled": True}]}}}
    assert api.request_problems(allowed, "txt2img", None, refuse_hub_ids) == []
    refused = {"alwayson_scripts": {"DNP": {"args": [{"enabled": True, "captioner": "org/model"}]}}}
    ((loc, message),) = api.request_problems(refused, "txt2img", None, refuse_hub_ids)
    assert loc == ["body", "alwayson_scripts", "DNP", "args", 0, "captioner"] and "org/model" in message
    # without the check (a UI request never comes this way) the same body has no problem
    assert api.request_problems(refused, "txt2img") == []
