"""Captioners named by API requests: only what the server's owner allows (registry captioners, models already in
the Hugging Face cache, captioner folders on the server) unless Settings › DNP lets API requests download; a refused
one is a 422 naming `captioner` before anything runs, and the answer tells nothing about which paths exist.

The WebUI runs offline, so every decision here is made before any network access would be tried.
"""

from __future__ import annotations

import shutil

import pytest

from .harness import BASE, field
from .test_xyz import axis_labels, xyz_args

SNAPSHOT = "0123456789abcdef0123456789abcdef01234567"
CACHED_ID = "dnp-test/tiny-cached-captioner"


def dnp(captioner: str) -> dict:
    return {"DNP": {"args": [{"enabled": True, "captioner": captioner, "cache": False}]}}


def refusal(response) -> dict:
    assert response.status_code == 422, response.text[:500]
    (problem,) = response.json()["detail"]
    assert problem["field"] == "captioner", problem
    return problem


@pytest.fixture(scope="module")
def cached_hub_model(webui_assets, captioner) -> str:
    """The tiny captioner laid out in the server's Hugging Face cache as if downloaded from the hub."""
    repo = webui_assets.hub_cache() / ("models--" + CACHED_ID.replace("/", "--"))
    snapshot = repo / "snapshots" / SNAPSHOT
    if not snapshot.is_dir():
        shutil.copytree(captioner, snapshot)
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / "main").write_text(SNAPSHOT)
    return CACHED_ID


def test_a_hub_model_not_cached_is_refused_before_anything_runs(webui):
    mark = webui.log_mark()
    r = webui.post(
        "/sdapi/v1/txt2img", json={**BASE, "alwayson_scripts": dnp("no-such-org/no-such-captioner")}
    )
    problem = refusal(r)
    assert problem["loc"][-1] == "captioner" and "Settings › DNP" in problem["msg"]
    assert "Total progress" not in webui.log_since(mark) and "100%" not in webui.log_since(mark)


def test_paths_get_one_answer_whether_they_exist_or_not(webui, webui_assets, tmp_path):
    not_a_captioner = tmp_path / "exists"
    not_a_captioner.mkdir()
    (not_a_captioner / "notes.txt").write_text("no model here")
    specs = [
        str(tmp_path / "missing" / "folder"),
        str(not_a_captioner),
        str(webui_assets.webui_dir / "models"),
    ]
    messages = set()
    for spec in specs:
        r = webui.post("/sdapi/v1/txt2img", json={**BASE, "alwayson_scripts": dnp(spec)})
        messages.add(refusal(r)["msg"].replace(repr(spec), "<spec>"))
    assert len(messages) == 1, messages


def test_allowed_captioners_run(webui, captioner, cached_hub_model):
    # a captioner folder on the server, and a model in its Hugging Face cache: captioned
    for spec in (captioner, cached_hub_model):
        (text,) = webui.infotexts(webui.txt2img(**BASE, alwayson_scripts=dnp(spec)))
        assert field(text, "DNP caption") and field(text, "DNP error") is None, (spec, text)
    # a registry captioner is allowed; offline and not cached, it fails the usual way, keeping the image
    (text,) = webui.infotexts(webui.txt2img(**BASE, alwayson_scripts=dnp("blip-base")))
    assert "not in the Hugging Face cache" in (field(text, "DNP error") or ""), text


def test_preview_and_xyz_follow_the_same_rule(webui, captioner):
    preview = {
        "prompt": "a cat",
        "steps": 2,
        "width": 64,
        "height": 64,
        "dnp": {"captioner": "no-such-org/x"},
    }
    problem = refusal(webui.post("/dnp/v1/preview", json=preview))
    assert problem["loc"] == ["body", "dnp", "captioner"]
    labels = axis_labels(webui)
    body = {
        **BASE,
        "script_name": "x/y/z plot",
        "script_args": xyz_args(labels, ("[DNP] Captioner", f"{captioner}, no-such-org/x")),
        "alwayson_scripts": dnp(captioner),
    }
    r = webui.post("/sdapi/v1/txt2img", json=body)
    assert r.status_code == 422, r.text[:500]
    assert "no-such-org/x" in str(r.json()["detail"]) and "not available to API requests" in r.text


def test_the_owner_can_let_api_requests_download(webui):
    assert webui.post("/sdapi/v1/options", json={"dnp_api_may_download": True}).status_code == 200
    try:
        r = webui.txt2img(**BASE, alwayson_scripts=dnp("no-such-org/no-such-captioner"))
    finally:
        webui.post("/sdapi/v1/options", json={"dnp_api_may_download": False})
    # accepted; the hub is offline here, so the download itself fails and the image keeps the user's negative
    (text,) = webui.infotexts(r)
    assert "no-such-org/no-such-captioner" in (field(text, "DNP error") or ""), text
