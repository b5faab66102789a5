"""Isolation and identity in a real WebUI (issue 7, items 3 and 4): no caption crosses requests, no stale cache
hit, no memory growth, and a disabled DNP changes no pixel."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from .test_dnp import BASE, HIRES, dnp

REQUESTS = [
    # (prompt, seed, DNP fields): different prompts, seeds and settings
    ("a photo of a cat", 1, {}),
    ("a red car on a road", 1, {}),
    ("a photo of a cat", 2, {"dns_scale": 3.0}),
    ("a bowl of soup", 3, {"composition": "prepend"}),
    ("a mountain lake at dawn", 4, {"preset": "fast"}),
    ("a bowl of soup", 3, {"dns_steps": 0.5}),
    ("an old clock", 9, {"max_tokens": 5}),
    ("a photo of a cat", 1, {"dns_scale": 12.0}),
]


def run(webui, captioner, prompt, seed, fields, **extra):
    r = webui.txt2img(
        **{**BASE, "prompt": prompt, "seed": seed}, alwayson_scripts=dnp(captioner, **fields), **extra
    )
    entry = webui.info(r)["dnp"]
    return entry["captions"][0], entry["negatives"][0], entry["from_cache"][0], r["images"][0]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_consecutive_and_concurrent_requests_keep_their_own_captions(webui, captioner):
    reference = [run(webui, captioner, p, s, {**f, "cache": False}) for p, s, f in REQUESTS]
    assert len({caption for caption, *_ in reference}) >= 3  # the requests really differ

    order = list(range(len(REQUESTS))) * 3
    random.Random(0).shuffle(order)
    for i in order[: len(REQUESTS)]:  # consecutive, in shuffled order, cache on
        prompt, seed, fields = REQUESTS[i]
        caption, negative, _, image = run(webui, captioner, prompt, seed, fields)
        assert (caption, negative) == reference[i][:2], (i, caption)
        assert np.array_equal(webui.decode_image(image), webui.decode_image(reference[i][3]))

    def one(i: int):
        prompt, seed, fields = REQUESTS[i]
        return i, run(webui, captioner, prompt, seed, {**fields, "cache": i % 2 == 0})

    with ThreadPoolExecutor(max_workers=4) as pool:  # the WebUI queues them; answers must not mix
        for i, (caption, negative, _, image) in pool.map(one, order):
            assert (caption, negative) == reference[i][:2], (i, caption)
            assert np.array_equal(webui.decode_image(image), webui.decode_image(reference[i][3]))


CHANGES = [
    {"seed": 22},
    {"prompt": "a photo of a dog"},
    {"steps": 5},
    {"sampler_name": "DPM++ 2M"},
    {"scheduler": "Karras"},
    {"width": 72},
    {"subseed": 5, "subseed_strength": 0.5},
    {"alwayson": {"dns_scale": 4.0}},
    {"alwayson": {"dns_steps": 0.5}},
    {"alwayson": {"dns_size": 0.5}},
    {"override_settings": {"CLIP_stop_at_last_layers": 2}},
    {"override_settings": {"eta_noise_seed_delta": 31337}},
]


@pytest.mark.parametrize("change", CHANGES, ids=[next(iter(c)) + str(i) for i, c in enumerate(CHANGES)])
def test_anything_that_changes_the_dns_image_misses_the_cache(webui, captioner, change):
    base = {**BASE, "seed": 21, "width": 128}  # 128: half of it is still a DNS size of its own (64)
    fields = {"dns_scale": 6.0}
    first = webui.txt2img(**base, alwayson_scripts=dnp(captioner, **fields))
    again = webui.txt2img(**base, alwayson_scripts=dnp(captioner, **fields))
    assert webui.info(again)["dnp"]["from_cache"] == [True]  # so the check below can fail
    assert webui.info(again)["dnp"]["captions"] == webui.info(first)["dnp"]["captions"]
    request = {**base, **{k: v for k, v in change.items() if k != "alwayson"}}
    try:
        changed = webui.txt2img(
            **request, alwayson_scripts=dnp(captioner, **{**fields, **change.get("alwayson", {})})
        )
    finally:
        # the WebUI's API keeps override_settings after the request: put the defaults back for later tests
        if "override_settings" in change:
            webui.post("/sdapi/v1/options", json={"CLIP_stop_at_last_layers": 1, "eta_noise_seed_delta": 0})
    assert webui.info(changed)["dnp"]["from_cache"] == [False], change


def test_main_pass_settings_hit_the_cache(webui, captioner):
    base = {**BASE, "seed": 23}
    fields = {"dns_scale": 6.0}
    webui.txt2img(**base, alwayson_scripts=dnp(captioner, **fields))
    for change in ({"cfg_scale": 4.0}, {"negative_prompt": "ugly"}, HIRES):
        r = webui.txt2img(**{**base, **change}, alwayson_scripts=dnp(captioner, **fields))
        assert webui.info(r)["dnp"]["from_cache"] == [True], (change, webui.info(r)["dnp"])


def test_memory_does_not_grow_across_50_requests(webui, captioner):
    def request(i: int) -> None:
        prompt, seed, fields = REQUESTS[i % len(REQUESTS)]
        run(webui, captioner, prompt, seed + 100 * i, fields)  # new seeds: the cache fills and evicts

    for i in range(10):  # warm up: captioner loaded, allocator pools and the DNS cache filled
        request(i)
    before = rss_kib(webui.proc.pid)
    for i in range(10, 60):
        request(i)
    growth_mib = (rss_kib(webui.proc.pid) - before) / 1024
    print(f"\nresident memory over 50 DNP requests: {before / 1024:.0f} MiB -> {growth_mib:+.1f} MiB")
    # 50 tiny images of 64x64 are ~0.6 MB in all; a leak of one request's tensors would be far more
    assert growth_mib < 40, f"resident memory grew {growth_mib:.1f} MiB over 50 requests"


@pytest.mark.parametrize(
    "shape",
    [
        {"batch_size": 1, "n_iter": 1, "sampler_name": "Euler"},
        {"batch_size": 3, "n_iter": 1, "sampler_name": "DPM++ 2M", "scheduler": "Karras"},
        {"batch_size": 2, "n_iter": 2, "sampler_name": "Euler a"},
        {"batch_size": 1, "n_iter": 2, "sampler_name": "DDIM", **HIRES},
        {"batch_size": 2, "n_iter": 1, "sampler_name": "UniPC", "subseed": 3, "subseed_strength": 0.3},
    ],
)
def test_disabled_dnp_changes_no_pixel(webui, webui_plain, captioner, shape):
    payload = {**BASE, **shape, "seed": 31}
    off = webui.txt2img(
        **payload, alwayson_scripts={"DNP": {"args": [{"enabled": False, "captioner": captioner}]}}
    )
    without = webui_plain.txt2img(**payload)
    assert len(off["images"]) == len(without["images"])
    for a, b in zip(off["images"], without["images"]):
        assert np.array_equal(webui.decode_image(a), webui.decode_image(b))
    assert webui.info(off)["all_negative_prompts"] == webui_plain.info(without)["all_negative_prompts"]
