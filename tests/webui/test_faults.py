"""Faults of issue 7 item 2 in a real WebUI: the captioner missing, raising, out of memory; the checkpoint switched
between requests. Each time the user gets the images with their own negative prompt, a clear message in the
console and a `DNP error` note in the infotext, and the next request works normally.

Faults are injected by the test-only extension (fixtures/dnp_testext): the captioner pool's factory wraps every
captioner, and POST /dnp-testext/fault makes the next caption call raise. It also counts DNS passes, which is how
the checkpoint test tells a cache hit from a pass.
"""

from __future__ import annotations

import os
import re

from .fixtures.testext import (
    BASE,
    SD15_B,
    assert_next_request_works,
    dnp,
    field,
    negative_of,
    same_image,
    set_fault,
    state,
)

BATCH = {**BASE, "batch_size": 2, "seed": 31}


def assert_own_negatives(testext_webui, r: dict, payload: dict, error_part: str) -> list[str]:
    """Both images: the user's negative, the error in the infotext, pixels of the request without DNP."""
    texts = testext_webui.infotexts(r)
    assert len(r["images"]) == 2 and len(texts) == 2
    errors = [field(text, "DNP error") for text in texts]
    assert all(error and error_part in error for error in errors), texts
    assert [negative_of(text) for text in texts] == ["blurry", "blurry"]
    assert all(field(text, "DNP caption") is None for text in texts)
    plain = testext_webui.txt2img(**payload)
    assert all(same_image(testext_webui, a, b) for a, b in zip(r["images"], plain["images"]))
    return errors


def test_captioner_missing_from_the_cache(testext_webui, captioner):
    mark = testext_webui.log_mark()
    # a registry captioner that is not downloaded (API requests may not name arbitrary hub ids: see test_doors)
    r = testext_webui.txt2img(**BATCH, alwayson_scripts=dnp(captioner="blip2-opt-2.7b"))
    (error, _) = assert_own_negatives(testext_webui, r, BATCH, "Salesforce/blip2-opt-2.7b")
    assert "not in the Hugging Face cache" in error  # and what to do: the download command of the WebUI's hub
    command = re.search(r"`(\S+) download Salesforce/blip2-opt-2.7b`", error)
    assert command and os.path.isfile(os.path.join(os.path.dirname(testext_webui.assets.python), command[1]))
    assert f"[DNP] 2 image(s) generated with your own negative prompt: {error}" in testext_webui.log_since(
        mark
    )
    assert_next_request_works(testext_webui, captioner)


def test_captioner_raising(testext_webui, captioner):
    mark = testext_webui.log_mark()
    set_fault(testext_webui, "raise")
    r = testext_webui.txt2img(**BATCH, alwayson_scripts=dnp(captioner))
    (error, _) = assert_own_negatives(testext_webui, r, BATCH, "injected captioner failure")
    assert error == "RuntimeError: dnp-testext: injected captioner failure"
    log = testext_webui.log_since(mark)
    assert f"own negative prompt: {error} — see the console for details" in log
    assert_next_request_works(testext_webui, captioner)


def test_captioner_out_of_memory_is_unloaded(testext_webui, captioner):
    testext_webui.txt2img(**BASE, alwayson_scripts=dnp(captioner))
    assert state(testext_webui)["captioner_loaded"]
    mark = testext_webui.log_mark()
    set_fault(testext_webui, "oom")
    r = testext_webui.txt2img(**BATCH, alwayson_scripts=dnp(captioner))
    (error, _) = assert_own_negatives(testext_webui, r, BATCH, "out of memory")
    assert error.startswith("[DNP] the captioner ran out of memory and was unloaded to free it (CUDA out of")
    assert "try a smaller captioner, fewer images per batch, or --medvram" in testext_webui.log_since(mark)
    assert not state(testext_webui)["captioner_loaded"]  # its memory went back before the main pass
    assert_next_request_works(testext_webui, captioner)  # which loads it again
    assert state(testext_webui)["captioner_loaded"]


def test_checkpoint_switch_between_requests_gives_no_stale_cache_hit(testext_webui, webui_assets, captioner):
    """The DNS cache key holds the checkpoint: a switch means a new DNS pass; switching back gives tiny-sd15's own
    DNS image and caption again. (A hit is not required there: open in issue 12, switching back misses, a safe
    miss, probably because the derived key grew by options only the second checkpoint's pass read.)"""
    webui_assets.require("test_models")
    # A fixed subseed: the cache key holds the subseed even at subseed strength 0, where it changes nothing,
    # so with the API's default (-1, a random subseed per request) no request would ever hit the cache.
    fixed = {"seed": 4242, "subseed": 5}
    payload = {**BASE, **fixed, "alwayson_scripts": dnp(captioner, cache=True)}

    def generate(expect_passes: int | None, model: str) -> tuple[dict, str]:
        before = state(testext_webui)["dns_passes"]
        r = testext_webui.txt2img(**payload)
        (text,) = testext_webui.infotexts(r)
        assert field(text, "Model") == model and field(text, "DNP error") is None, text
        passes = state(testext_webui)["dns_passes"] - before
        assert passes == expect_passes if expect_passes is not None else passes <= 1, (model, text)
        return r, field(text, "DNP caption")

    def switch(model: str) -> None:
        r = testext_webui.post("/sdapi/v1/options", json={"sd_model_checkpoint": f"{model}.safetensors"})
        assert r.status_code == 200, r.text

    try:
        switch("tiny-sd15")
        first, caption_a = generate(1, "tiny-sd15")
        assert generate(0, "tiny-sd15")[1] == caption_a  # the counter sees cache hits as no pass
        switch(SD15_B)
        on_b, caption_b = generate(1, SD15_B)  # not the cached tiny-sd15 DNS image
        plain_b = testext_webui.txt2img(
            **{**BASE, **fixed, "negative_prompt": negative_of(testext_webui.infotexts(on_b)[0])}
        )
        assert same_image(testext_webui, on_b["images"][0], plain_b["images"][0])
        assert generate(0, SD15_B)[1] == caption_b
        switch("tiny-sd15")
        back, caption = generate(None, "tiny-sd15")  # tiny-sd15's DNS image, never B's
        assert caption == caption_a and same_image(testext_webui, back["images"][0], first["images"][0])
        # a per-request checkpoint (override_settings) is keyed by the checkpoint actually used
        before = state(testext_webui)["dns_passes"]
        r = testext_webui.txt2img(
            **payload, override_settings={"sd_model_checkpoint": f"{SD15_B}.safetensors"}
        )
        assert field(testext_webui.infotexts(r)[0], "DNP caption") == caption_b
        assert state(testext_webui)["dns_passes"] - before <= 1
    finally:
        switch("tiny-sd15")
    assert_next_request_works(testext_webui, captioner)


def test_captions_are_plain_words_for_the_prompt_parser(testext_webui, captioner):
    """A caption in the WebUI's prompt syntax must not weight or edit the negative: it is escaped, and the
    infotext reports the escaped text, which regenerates the same image."""
    set_fault(testext_webui, "syntax")
    payload = {**BASE, "seed": 33}
    r = testext_webui.txt2img(**payload, alwayson_scripts=dnp(captioner, cache=False))
    (text,) = testext_webui.infotexts(r)
    escaped = r"a man \(in a hat\) \[red:blue:0.5\]"
    assert field(text, "DNP caption") == escaped and negative_of(text) == f"blurry, {escaped}"
    same = testext_webui.txt2img(**{**payload, "negative_prompt": f"blurry, {escaped}"})
    assert same_image(testext_webui, r["images"][0], same["images"][0])
    parsed = testext_webui.txt2img(
        **{**payload, "negative_prompt": "blurry, a man (in a hat) [red:blue:0.5]"}
    )
    assert not same_image(
        testext_webui, r["images"][0], parsed["images"][0]
    )  # the syntax would have changed it
