"""The params model: defaults, validation messages, and the dict / JSON-schema round trips."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lib_dnp.captioners.registry import DEFAULT_CAPTIONER
from lib_dnp.params import (
    FIELDS,
    MAX_CAPTION_CHARS,
    MAX_CAPTIONS,
    DnpParams,
    DnpParamsError,
    allowed,
    choices,
    coerce_text,
    dns_scale,
    dns_size,
    dns_steps,
    field_kind,
    json_schema,
    params_dict,
    parse_params,
    updated,
)


def test_defaults_are_the_documented_ones():
    params = DnpParams()
    assert params.enabled is False
    assert params.mode == "auto"
    assert params.captioner == DEFAULT_CAPTIONER
    assert params.dns_scale is None
    assert params.dns_steps is None and params.dns_size is None and params.preset == "faithful"
    assert params.composition == "append"
    assert params.captions == []
    assert params.cache is True
    assert params.return_dns_images is False


def test_missing_fields_take_defaults():
    params = parse_params({"enabled": True, "dns_scale": 5})
    assert params.enabled and params.dns_scale == 5 and params.mode == "auto"


def test_dict_round_trip_through_json():
    params = parse_params(
        {
            "enabled": True,
            "mode": "manual",
            "captions": ["a house", "a car"],
            "dns_scale": 4.5,
            "composition": "replace",
        }
    )
    again = parse_params(json.loads(json.dumps(params_dict(params))))
    assert again == params
    assert set(params_dict(params)) == set(FIELDS)


def problem_fields(data) -> dict[str, str]:
    with pytest.raises(DnpParamsError) as info:
        parse_params(data)
    return dict(info.value.problems)


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"bogus": 1}, "bogus", "unknown field"),
        ({"mode": "sideways"}, "mode", "'auto', 'manual'"),
        ({"composition": "merge"}, "composition", "'append', 'prepend', 'replace'"),
        ({"dns_scale": 0.5}, "dns_scale", ">= 1.0 and <= 30.0"),
        ({"dns_scale": 31}, "dns_scale", "or null"),
        ({"dns_scale": "7"}, "dns_scale", "expected a number"),
        ({"dns_scale": float("nan")}, "dns_scale", "finite"),
        ({"dns_scale": -3.0}, "dns_scale", ">= 1.0"),
        ({"dns_steps": 0}, "dns_steps", "> 0.0"),
        ({"dns_steps": 1.5}, "dns_steps", "<= 1.0"),
        ({"max_tokens": 2.5}, "max_tokens", "integer"),
        ({"max_tokens": 0}, "max_tokens", ">= 1"),
        ({"num_beams": True}, "num_beams", "integer"),
        ({"enabled": "yes"}, "enabled", "true or false"),
        ({"captioner": ""}, "captioner", "at least 1"),
        ({"captioner": "a\nb"}, "captioner", "one line"),
        ({"captioner": "blip-larg"}, "captioner", "not a captioner key (blip-base, blip-large"),
        ({"captions": "a house"}, "captions", "list of strings"),
        ({"captions": ["ok", 3]}, "captions", "item 1"),
        ({"captions": ["x" * 10_000]}, "captions", "10000 characters"),
    ],
)
def test_bad_values_name_the_field_and_what_is_allowed(data, field, words):
    problems = problem_fields(data)
    assert field in problems, problems
    assert words in problems[field]


def test_manual_mode_without_captions_is_refused():
    problems = problem_fields({"enabled": True, "mode": "manual"})
    assert "captions" in problems and "manual mode" in problems["captions"]


def test_non_dict_args_are_refused():
    assert "object of named DNP fields" in problem_fields([True, "auto"])["args"]


def test_several_problems_are_all_reported():
    problems = problem_fields({"mode": "x", "dns_steps": 9, "nope": 1})
    assert set(problems) == {"mode", "dns_steps", "nope"}


def test_updated_validates():
    params = DnpParams(enabled=True)
    assert updated(params, dns_scale=3.0).dns_scale == 3.0
    with pytest.raises(DnpParamsError):
        updated(params, dns_scale=100.0)


def test_json_schema_exports_bounds_and_choices():
    schema = json_schema()
    props = schema["properties"]
    assert set(props) == set(FIELDS)
    assert props["dns_scale"]["minimum"] == 1.0 and props["dns_scale"]["maximum"] == 30.0
    assert props["mode"]["enum"] == ["auto", "manual"]
    assert props["composition"]["enum"] == ["append", "prepend", "replace"]
    assert props["enabled"]["default"] is False
    assert schema.get("additionalProperties") is False
    json.dumps(schema)


def test_choices_and_allowed():
    assert choices("mode") == ["auto", "manual"]
    assert choices("dns_scale") is None
    assert allowed("enabled") == "true or false"


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("dns_scale", "7.5", 7.5),
        ("dns_scale", "none", None),
        ("dns_scale", "", None),
        ("max_tokens", "12", 12),
        ("enabled", "True", True),
        ("enabled", "off", False),
        ("mode", " manual ", "manual"),
    ],
)
def test_coerce_text(name, text, value):
    assert coerce_text(name, text) == value


@pytest.mark.parametrize(
    ("name", "text"), [("max_tokens", "2.5"), ("dns_scale", "big"), ("enabled", "maybe"), ("x", "1")]
)
def test_coerce_text_refuses(name, text):
    with pytest.raises(DnpParamsError):
        coerce_text(name, text)


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "enabled": st.booleans(),
            "dns_scale": st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
            "dns_steps": st.one_of(st.none(), st.floats(allow_nan=True)),
            "dns_size": st.one_of(st.none(), st.floats(allow_nan=True)),
            "preset": st.sampled_from(["fast", "faithful", "slow"]),
            "max_tokens": st.integers(-5, 200),
            "mode": st.sampled_from(["auto", "manual", "off", ""]),
            "captions": st.lists(st.text(max_size=5), max_size=3),
        },
    )
)
def test_property_valid_or_named_error(data):
    """Any input either validates within bounds or fails with every problem named by field."""
    try:
        params = parse_params(data)
    except DnpParamsError as error:
        assert error.problems
        for field, message in error.problems:
            assert field.split(".")[0] in FIELDS or field == "args"
            assert message
        return
    assert params.dns_scale is None or (1.0 <= params.dns_scale <= 30.0 and math.isfinite(params.dns_scale))
    assert params.dns_steps is None or 0.0 < params.dns_steps <= 1.0
    assert params.dns_size is None or 0.25 <= params.dns_size <= 1.0
    assert 1 <= params.max_tokens <= 100


def test_presets_and_overrides_give_the_dns_pass_its_steps_size_and_scale():
    faithful, fast = parse_params({}), parse_params({"preset": "fast"})
    assert dns_steps(faithful, 20) == 20 and dns_size(faithful, 512, 768) == (512, 768)
    assert dns_steps(fast, 20) == 5 and dns_size(fast, 512, 768) == (384, 576)  # ¼ steps, ¾ side
    assert dns_size(fast, 1024, 1024) == (768, 768)
    # explicit values win over the preset; sizes snap to multiples of 64, never below 64
    tuned = parse_params({"preset": "fast", "dns_steps": 0.5, "dns_size": 0.25})
    assert dns_steps(tuned, 20) == 10 and dns_size(tuned, 512, 200) == (128, 64)
    assert dns_steps(parse_params({"dns_steps": 0.1}), 3) == 1  # at least one step
    assert dns_size(parse_params({"dns_size": 1.0}), 520, 512) == (520, 512)  # full size is the image's own
    assert dns_scale(faithful, 7) == 7.0 and dns_scale(parse_params({"dns_scale": 3}), 7) == 3.0
    with pytest.raises(DnpParamsError, match="dns_size"):
        parse_params({"dns_size": 0.1})
    with pytest.raises(DnpParamsError, match="preset"):
        parse_params({"preset": "turbo"})


# --- every field's bounds, read from the model: just inside passes, just outside fails naming the field --------


def number_limits(name: str) -> list[tuple[str, float]]:
    """(kind of limit, value) of a number field: ge, gt, le, lt, as the model declares them."""
    info = DnpParams.__fields__[name].field_info
    return [
        (kind, getattr(info, kind)) for kind in ("ge", "gt", "le", "lt") if getattr(info, kind) is not None
    ]


NUMBER_FIELDS = [name for name in FIELDS if field_kind(name) in (int, float)]


def test_every_number_field_is_bounded_on_both_sides():
    assert NUMBER_FIELDS  # dns_scale, dns_steps, dns_size, max_tokens, num_beams, candidates
    for name in NUMBER_FIELDS:
        kinds = {kind for kind, _ in number_limits(name)}
        assert kinds & {"ge", "gt"} and kinds & {"le", "lt"}, name


def beside(name: str, kind: str, limit: float) -> tuple[float, float]:
    """(a value just inside the limit, one just outside): the next integer, or the next float."""
    if field_kind(name) is int:
        inside = {"ge": 0, "gt": 1, "le": 0, "lt": -1}[kind]
        outside = {"ge": -1, "gt": 0, "le": 1, "lt": 0}[kind]
        return limit + inside, limit + outside
    toward_inside = math.inf if kind in ("ge", "gt") else -math.inf
    if kind in ("ge", "le"):  # the limit itself is allowed
        return limit, math.nextafter(limit, -toward_inside)
    return math.nextafter(limit, toward_inside), limit


@pytest.mark.parametrize(
    ("name", "kind", "limit"),
    [(name, kind, limit) for name in NUMBER_FIELDS for kind, limit in number_limits(name)],
)
def test_number_bounds_just_inside_and_just_outside(name, kind, limit):
    inside, outside = beside(name, kind, limit)
    assert getattr(parse_params({name: inside}), name) == inside
    problems = problem_fields({name: outside})
    assert list(problems) == [name], problems
    assert allowed(name) in problems[name]  # the message says what is allowed ...
    assert f"{'>' if kind == 'gt' else '>=' if kind == 'ge' else '<='} {limit}" in allowed(
        name
    )  # ... rightly
    schema_key = {"ge": "minimum", "gt": "exclusiveMinimum", "le": "maximum", "lt": "exclusiveMaximum"}[kind]
    assert json_schema()["properties"][name][schema_key] == limit  # and the schema publishes the same limit


def test_captioner_length_bounds():
    info = DnpParams.__fields__["captioner"].field_info
    longest = "owner/" + "x" * (info.max_length - len("owner/"))
    assert parse_params({"captioner": longest}).captioner == longest
    assert "captioner" in problem_fields({"captioner": longest + "x"})
    assert info.min_length == 1 and "captioner" in problem_fields({"captioner": ""})


def test_captions_count_and_length_bounds():
    assert len(parse_params({"captions": ["a"] * MAX_CAPTIONS}).captions) == MAX_CAPTIONS
    assert "captions" in problem_fields({"captions": ["a"] * (MAX_CAPTIONS + 1)})
    assert parse_params({"captions": ["x" * MAX_CAPTION_CHARS]}).captions[0] == "x" * MAX_CAPTION_CHARS
    assert "captions" in problem_fields({"captions": ["x" * (MAX_CAPTION_CHARS + 1)]})


@pytest.mark.parametrize("name", [name for name in FIELDS if choices(name)])
def test_every_choice_is_accepted_and_nothing_else(name):
    for choice in choices(name):
        assert getattr(parse_params({name: choice}), name) == choice
    assert name in problem_fields({name: "not-" + choices(name)[0]})
