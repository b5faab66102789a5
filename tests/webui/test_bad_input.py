"""Hostile input against a real WebUI (issue 7, item 1): property-based payloads for the generation routes and
DNP's own routes. Each answer is a 200 (for valid input) or a 4xx that locates the problem, never a 500; a refused
request generates nothing. The named cases are in test_api.py; this file throws generated ones."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib_dnp.params import FIELDS

from .test_api import dns_images_sampled
from .test_dnp import BASE

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.text(min_size=3000, max_size=3000)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
FIELD_DICTS = st.dictionaries(st.sampled_from([*FIELDS, "bogus", ""]), VALUES, max_size=4).map(
    lambda d: {**d, "enabled": d.get("enabled", True)}
)
ENTRIES = st.one_of(
    st.fixed_dictionaries({"args": st.lists(FIELD_DICTS, min_size=1, max_size=2)}),
    st.fixed_dictionaries({"args": VALUES}),
    VALUES,
)
EXAMPLES = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


def send(webui, path: str, payload) -> object:
    # raw JSON, so that NaN and Infinity reach the server as a JavaScript client would send them
    return webui.post(path, data=json.dumps(payload), headers={"Content-Type": "application/json"})


def assert_located_refusal(response) -> None:
    assert 400 <= response.status_code < 500, response.text[:500]
    assert "Traceback" not in response.text
    detail = response.json()["detail"]
    assert detail and all(item["loc"] and item["msg"] for item in detail), detail


@pytest.fixture(scope="module")
def tally():
    counts = {"tried": 0, "refused with a located 4xx": 0, "generated": 0}
    yield counts
    print(f"\nhostile payloads: {counts}")


def test_generated_dnp_entries_are_refused_or_generate(webui, captioner, tally):
    @EXAMPLES
    @given(entry=ENTRIES)
    def check(entry):
        if isinstance(entry, dict) and isinstance(entry.get("args"), list):
            for args in entry["args"]:
                if isinstance(args, dict) and "captioner" not in args:
                    args["captioner"] = captioner  # so valid ones run offline
        before = dns_images_sampled(webui)
        r = send(webui, "/sdapi/v1/txt2img", {**BASE, "steps": 2, "alwayson_scripts": {"DNP": entry}})
        tally["tried"] += 1
        if r.status_code == 200:
            tally["generated"] += 1
            assert r.json()["images"]
            return
        assert_located_refusal(r)
        assert dns_images_sampled(webui) == before
        tally["refused with a located 4xx"] += 1

    check()
    assert tally["refused with a located 4xx"] > 0


PREVIEW_FIELDS = {
    "prompt": st.text(max_size=40) | VALUES,
    "seed": st.integers(-5, 2**33) | VALUES,
    "steps": st.integers(-2, 3) | VALUES,
    "width": st.sampled_from([64, 63, 0, 4096]) | VALUES,
    "batch_size": st.integers(0, 2) | VALUES,
    "sampler_name": st.sampled_from(["Euler", "nope"]) | VALUES,
    "dnp": FIELD_DICTS | VALUES,
}


def test_generated_preview_requests_are_refused_or_answered(webui, captioner):
    @EXAMPLES
    @given(body=st.fixed_dictionaries({}, optional=PREVIEW_FIELDS))
    def check(body):
        body = {"prompt": "a cat", "width": 64, "height": 64, "steps": 2, **body}
        if isinstance(body.get("dnp"), dict):
            body["dnp"].setdefault("captioner", captioner)
        r = send(webui, "/dnp/v1/preview", body)
        if r.status_code == 200:
            assert len(r.json()["images"]) == body.get("batch_size", 1)
        else:
            assert_located_refusal(r)

    check()
