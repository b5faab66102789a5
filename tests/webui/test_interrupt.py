"""Interrupt and Skip pressed while a DNP request is in its DNS pass and while it is captioning (issue 4 item 2,
issue 7 item 2), against a real WebUI over HTTP.

What the user gets, by where the press lands:

| press     | during the DNS pass                      | during captioning                           |
| --------- | ---------------------------------------- | ------------------------------------------- |
| Interrupt | the job stops: no image (the main pass   | the same: the captions are dropped and the  |
|           | has not started), DNP error in infotext  | job stops                                   |
| Skip      | the DNS pass ends; the image is made     | the captions are dropped; the image is made |
|           | with the user's own negative             | with the user's own negative                |

The test extension holds the DNS pass (fault "hold_dns", in its first CFG-denoiser call) or the captioner
(fault "hold": it then captions normally, so only the adapter can drop the captions) until the press: the press
lands in the stage for certain, whatever the machine's speed. The request runs in a thread; the test presses when
the extension says it holds, and checks that the WebUI's progress shows the stage as its own job.
"""

from __future__ import annotations

from .fixtures.testext import (
    BASE,
    Background,
    assert_next_request_works,
    dnp,
    field,
    negative_of,
    same_image,
    set_fault,
    state,
    wait_for,
)

DNS_JOB = "DNP: diffusion-negative pass"
CAPTION_JOB = "DNP: captioning"
LONG = {**BASE, "steps": 8}  # the press comes at the DNS pass's first step: 7 steps are cut off


def progress(testext_webui) -> dict:
    return testext_webui.get("/sdapi/v1/progress?skip_current_image=true").json()["state"]


def start_in_dns_pass(testext_webui, captioner) -> Background:
    set_fault(testext_webui, "hold_dns")
    request = Background(testext_webui, "/sdapi/v1/txt2img", {**LONG, "alwayson_scripts": dnp(captioner)})
    wait_for(lambda: state(testext_webui)["holding"], "the DNS pass to sample")
    assert progress(testext_webui)["job"] == DNS_JOB  # the progress bar shows the DNS pass as its own job
    return request


def start_in_captioning(testext_webui, captioner) -> Background:
    set_fault(testext_webui, "hold")
    request = Background(testext_webui, "/sdapi/v1/txt2img", {**BASE, "alwayson_scripts": dnp(captioner)})
    wait_for(lambda: state(testext_webui)["holding"], "the captioner to run")
    assert progress(testext_webui)["job"] == CAPTION_JOB  # the progress bar shows captioning as its own job
    return request


def assert_interrupted(testext_webui, r: dict, stage: str, mark: int) -> None:
    """No image: the WebUI stops the job, and the main pass had not begun. The note says where it stopped."""
    assert r["images"] == []
    (text,) = testext_webui.infotexts(r)  # the WebUI still reports the job's parameters
    assert field(text, "DNP error") == f"interrupted {stage}", text
    assert field(text, "DNP caption") is None and negative_of(text) == "blurry"
    assert f"[DNP] DNP stopped: interrupted {stage}" in testext_webui.log_since(mark)


def assert_skipped(testext_webui, r: dict, stage: str, mark: int) -> None:
    """One image, made with the user's own negative: pixel-identical to the same request without DNP."""
    assert len(r["images"]) == 1
    (text,) = testext_webui.infotexts(r)
    assert field(text, "DNP error") == f"skipped {stage}", text
    assert field(text, "DNP caption") is None and negative_of(text) == "blurry"
    assert f"skipped {stage}" in testext_webui.log_since(mark)


def test_interrupt_during_the_dns_pass(testext_webui, captioner):
    mark = testext_webui.log_mark()
    request = start_in_dns_pass(testext_webui, captioner)
    assert testext_webui.post("/sdapi/v1/interrupt").status_code == 200
    assert_interrupted(testext_webui, request.result(), "during the DNS pass", mark)
    assert_next_request_works(testext_webui, captioner)


def test_skip_during_the_dns_pass(testext_webui, captioner):
    mark = testext_webui.log_mark()
    request = start_in_dns_pass(testext_webui, captioner)
    assert testext_webui.post("/sdapi/v1/skip").status_code == 200
    r = request.result()
    assert_skipped(testext_webui, r, "during the DNS pass", mark)
    plain = testext_webui.txt2img(
        **LONG
    )  # the main pass's noise and steps are untouched by the cut-short DNS pass
    assert same_image(testext_webui, r["images"][0], plain["images"][0])
    assert_next_request_works(testext_webui, captioner)


def test_interrupt_during_captioning(testext_webui, captioner):
    mark = testext_webui.log_mark()
    calls = state(testext_webui)["caption_calls"]
    request = start_in_captioning(testext_webui, captioner)
    assert testext_webui.post("/sdapi/v1/interrupt").status_code == 200
    assert_interrupted(testext_webui, request.result(), "during captioning", mark)
    # the captioner ran, and finished: its output was dropped
    assert state(testext_webui)["caption_calls"] == calls + 1
    assert_next_request_works(testext_webui, captioner)


def test_skip_during_captioning(testext_webui, captioner):
    mark = testext_webui.log_mark()
    request = start_in_captioning(testext_webui, captioner)
    assert testext_webui.post("/sdapi/v1/skip").status_code == 200
    r = request.result()
    assert_skipped(testext_webui, r, "during captioning", mark)
    plain = testext_webui.txt2img(**BASE)
    assert same_image(testext_webui, r["images"][0], plain["images"][0])
    assert_next_request_works(testext_webui, captioner)
