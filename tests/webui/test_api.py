"""The HTTP API in a real WebUI (issue 5): named args, 422 before any work, the `dnp` info entry, /dnp/v1 routes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from .test_dnp import BASE, dnp, field, negative_of


def dns_images_sampled(webui) -> int:
    return webui.get("/dnp/v1/status").json()["dns_images_sampled"]


def generations_run(webui, mark: int) -> int:
    """Sampling runs in the WebUI log since `mark` (each prints a tqdm bar that ends at 'steps/steps')."""
    return webui.log_since(mark).count(f"{BASE['steps']}/{BASE['steps']} [")


def test_named_args_return_per_image_captions_and_negatives(webui, captioner):
    mark = webui.log_mark()
    r = webui.txt2img(**{**BASE, "batch_size": 2, "seed": 40}, alwayson_scripts=dnp(captioner))
    info = webui.info(r)
    entry = info["dnp"]
    assert len(entry["captions"]) == 2 and all(entry["captions"])
    assert entry["negatives"] == [f"blurry, {c}" for c in entry["captions"]] == info["all_negative_prompts"]
    assert entry["errors"] == [None, None] and entry["settings"].startswith("mode=auto")
    assert [field(t, "DNP caption") for t in webui.infotexts(r)] == entry["captions"]
    assert (
        generations_run(webui, mark) >= 2
    )  # the DNS pass and the main pass (so the 422 tests' count can fail)
    # a request without DNP has no entry
    assert "dnp" not in webui.info(webui.txt2img(**BASE))


BAD_ARGS = [
    # (what the DNP entry of alwayson_scripts is, the field the 422 must name, words of the message)
    ({"args": [{"enabled": True, "dns_scale": "7"}]}, "dns_scale", "expected a number"),
    ({"args": [{"enabled": True, "dns_scale": math.nan}]}, "dns_scale", "finite"),
    ({"args": [{"enabled": True, "dns_scale": -3.0}]}, "dns_scale", ">= 1.0"),
    ({"args": [{"enabled": True, "dns_steps": 0}]}, "dns_steps", "> 0.0"),
    ({"args": [{"enabled": True, "preset": "turbo"}]}, "preset", "'faithful', 'fast'"),
    ({"args": [{"enabled": True, "bogus": 1}]}, "bogus", "unknown field"),
    ({"args": [{"enabled": "yes"}]}, "enabled", "true or false"),
    ({"args": [{"enabled": True, "captioner": "blip-larg"}]}, "captioner", "not a captioner key"),
    ({"args": [{"enabled": True, "captioner": "x" * 600}]}, "captioner", "512"),
    ({"args": [{"enabled": True, "mode": "manual"}]}, "captions", "at least one caption"),
    (
        {"args": [{"enabled": True, "mode": "manual", "captions": ["a", "b", "c"]}]},
        "captions",
        "1 caption or 2",
    ),
    ({"args": [{"enabled": True, "mode": "manual", "captions": ["x" * 10_000]}]}, "captions", "2000"),
    ({"args": [{"enabled": True, "captions": "not a list"}]}, "captions", "list"),
    ({"args": {"enabled": True}}, "args", "expected a list holding one object"),
    ({"args": [True, "auto"]}, "args", "no positional values"),
    ({"args": [{"enabled": True}, {"enabled": True}]}, "args", "one object"),
    ({"arg": [{"enabled": True}]}, "DNP", "only key read is 'args'"),
    ([{"enabled": True}], "DNP", "expected an object"),
]


@pytest.mark.parametrize("entry, name, words", BAD_ARGS, ids=[f"{c[1]}-{i}" for i, c in enumerate(BAD_ARGS)])
def test_bad_args_get_422_naming_the_field_and_generate_nothing(webui, entry, name, words):
    before, mark = dns_images_sampled(webui), webui.log_mark()
    payload = {**BASE, "batch_size": 2, "alwayson_scripts": {"DNP": entry}}
    # json.dumps writes NaN as JavaScript does, which requests refuses to send and Python's json reads back
    r = webui.post(
        "/sdapi/v1/txt2img", data=json.dumps(payload), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422, r.text[:500]
    detail = r.json()["detail"]
    assert any(d["field"] == name and words in d["msg"] for d in detail), detail
    assert "Traceback" not in r.text
    assert dns_images_sampled(webui) == before and generations_run(webui, mark) == 0


def test_img2img_is_checked_too(webui):
    plain = webui.txt2img(**BASE)
    payload = {**BASE, "init_images": [plain["images"][0]], "denoising_strength": 0.5}
    r = webui.post("/sdapi/v1/img2img", json={**payload, "alwayson_scripts": dnp("blip-large", dns_scale=99)})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "dns_scale", r.text[:500]


def test_the_entry_name_matches_the_title_without_case(webui):
    r = webui.post("/sdapi/v1/txt2img", json={**BASE, "alwayson_scripts": {"dnp": {"args": [{"mode": "x"}]}}})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][:3] == ["body", "alwayson_scripts", "dnp"]


def test_missing_fields_take_their_defaults(webui):
    # An empty args list, or an empty object, is DNP with every default: off.
    for entry in ({"args": []}, {"args": [{}]}, {}):
        r = webui.txt2img(**BASE, alwayson_scripts={"DNP": entry})
        assert "DNP" not in webui.infotexts(r)[0]


def test_schema_route(webui):
    body = webui.get("/dnp/v1/schema").json()
    assert body["version"] and body["script_title"] == "DNP"
    properties = body["schema"]["properties"]
    assert properties["dns_scale"]["maximum"] == 30.0 and "faithful" in properties["preset"]["enum"]


def test_captioners_route(webui):
    body = webui.get("/dnp/v1/captioners").json()
    keys = {entry["key"]: entry for entry in body["captioners"]}
    assert (
        body["default"] in keys and keys["blip-large"]["model_id"] == "Salesforce/blip-image-captioning-large"
    )
    assert all(entry["available_offline"] is False for entry in keys.values())  # nothing downloaded here


def test_preview_route_matches_the_generation_it_previews(webui, captioner):
    request = {
        "prompt": BASE["prompt"],
        "negative_prompt": "blurry",
        "seed": 61,
        "steps": BASE["steps"],
        "width": 64,
        "height": 64,
        "batch_size": 2,
        "dnp": {"captioner": captioner, "cache": False},
    }
    r = webui.post("/dnp/v1/preview", json=request)
    assert r.status_code == 200, r.text[:500]
    body = r.json()
    assert body["seeds"] == [61, 62] and len(body["images"]) == 2 and all(body["captions"])
    assert body["errors"] == [None, None]
    # the same settings in auto mode give the same captions; manual mode with them gives the same images
    auto = webui.txt2img(
        **{**BASE, "seed": 61, "batch_size": 2}, alwayson_scripts=dnp(captioner, cache=False)
    )
    assert webui.info(auto)["dnp"]["captions"] == body["captions"]
    manual = webui.txt2img(
        **{**BASE, "seed": 61, "batch_size": 2},
        alwayson_scripts=dnp(captioner, mode="manual", captions=body["captions"]),
    )
    for a, b in zip(auto["images"], manual["images"]):
        assert np.array_equal(webui.decode_image(a), webui.decode_image(b))


@pytest.mark.parametrize(
    "change, name",
    [
        ({"dnp": {"dns_scale": 0}}, "dns_scale"),
        ({"sampler_name": "No such sampler"}, "sampler_name"),
        ({"steps": 0}, "steps"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_preview_route_errors_are_422_naming_the_field(webui, change, name):
    r = webui.post(
        "/dnp/v1/preview", json={"prompt": "a cat", "steps": 2, "width": 64, "height": 64, **change}
    )
    assert r.status_code == 422, r.text[:500]
    assert name in str(r.json()["detail"]) and "Traceback" not in r.text


def test_unload_route(webui, captioner):
    webui.txt2img(**BASE, alwayson_scripts=dnp(captioner, cache=False))
    assert webui.get("/dnp/v1/status").json()["captioner"] is not None
    assert webui.post("/dnp/v1/unload").json() == {"unloaded": True}
    assert webui.get("/dnp/v1/status").json()["captioner"] is None
    assert webui.post("/dnp/v1/unload").json() == {"unloaded": False}


def test_consecutive_requests_never_see_each_others_captions(webui, captioner):
    cat = webui.txt2img(**{**BASE, "seed": 5}, alwayson_scripts=dnp(captioner))
    dog = webui.txt2img(
        **{**BASE, "prompt": "a red car on a road", "seed": 5}, alwayson_scripts=dnp(captioner)
    )
    again = webui.txt2img(**{**BASE, "seed": 5}, alwayson_scripts=dnp(captioner, cache=False))
    captions = [webui.info(r)["dnp"]["captions"][0] for r in (cat, dog, again)]
    assert captions[0] == captions[2] != captions[1]
    assert negative_of(webui.infotexts(dog)[0]) == f"blurry, {captions[1]}"
