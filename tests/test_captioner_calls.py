"""One pooled captioner serves concurrent requests with different settings: each request's max tokens and beams
travel with its calls (`CaptionerCall`), so no request's captions are made with another's settings.

Drives the core's orchestration (`lib_dnp.pipeline.run_batch`) from several threads at once, through one
`CaptionerPool` and one shared `DnsCache` as the WebUI has them, and checks every result against the same batch
run alone, single-threaded, on a captioner of its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lib_dnp.cache import DnsCache, DnsKey
from lib_dnp.captioners import CaptionerPool, CaptionSettings, HFCaptioner
from lib_dnp.params import parse_params
from lib_dnp.pipeline import ImageSpec, run_batch
from lib_dnp.testing import build_tiny_blip

# (max_tokens, num_beams) of the concurrent requests: short and long greedy captions, and a beam search
SETTINGS = [CaptionSettings(3, 1), CaptionSettings(12, 1), CaptionSettings(8, 2)]
THREADS_PER_SETTING = 2
ROUNDS = 3
SEEDS = (11, 12, 13)


@pytest.fixture(scope="module", autouse=True)
def offline_empty_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    hf_home = tmp_path_factory.mktemp("hf_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("HF_HOME", str(hf_home))
        yield hf_home


@pytest.fixture(scope="module")
def blip_folder(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_tiny_blip(str(tmp_path_factory.mktemp("tiny_blip") / "blip"))


def dns_image(seed: int) -> Image.Image:
    """A stand-in DNS image, different for every seed (the pipeline only passes it to the captioner)."""
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (32, 32, 3), dtype=np.uint8))


def specs() -> list[ImageSpec]:
    key = dict(model="m", prompt="a cat", subseed=0, subseed_strength=0.0, sampler="Euler a")
    more = dict(scheduler="automatic", steps=4, width=64, height=64, scale=7.0)
    return [ImageSpec("a cat", "blurry", DnsKey(seed=seed, **key, **more)) for seed in SEEDS]


def sample_dns(indices):
    time.sleep(0.02)  # a DNS pass takes a while: other requests come and go meanwhile
    return [dns_image(SEEDS[i]) for i in indices]


def params_for(settings: CaptionSettings):
    return parse_params(
        {"enabled": True, "max_tokens": settings.max_tokens, "num_beams": settings.num_beams, "cache": True}
    )


def negatives(captioner, settings: CaptionSettings, cache: DnsCache | None) -> list[str]:
    results = run_batch(specs(), params_for(settings), sample_dns, captioner, cache)
    assert all(result.ok for result in results), [result.error for result in results]
    return [result.negative for result in results]


def test_concurrent_requests_keep_their_own_caption_settings(blip_folder: str) -> None:
    torch.manual_seed(0)
    reference = {
        settings: negatives(
            HFCaptioner(blip_folder, max_tokens=settings.max_tokens, num_beams=settings.num_beams),
            settings,
            None,
        )
        for settings in SETTINGS
    }
    # the settings change the captions, so a request captioned with another's settings would show
    assert len({tuple(value) for value in reference.values()}) == len(SETTINGS), reference

    pool, cache = CaptionerPool(), DnsCache(max_images=64)
    jobs = [settings for settings in SETTINGS for _ in range(THREADS_PER_SETTING)]
    start = threading.Barrier(len(jobs))
    got: dict[int, list[list[str]]] = {n: [] for n in range(len(jobs))}
    failures: list[BaseException] = []

    def request(n: int, settings: CaptionSettings) -> None:
        try:
            start.wait()
            for round_ in range(ROUNDS):
                # the first round bypasses the cache, so that every thread really captions at once
                call = pool.get(blip_folder, settings=settings)
                got[n].append(negatives(call, settings, cache if round_ else None))
        except BaseException as error:  # reported in the main thread
            failures.append(error)

    threads = [threading.Thread(target=request, args=job) for job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not failures, failures
    assert not any(thread.is_alive() for thread in threads)
    for n, settings in enumerate(jobs):
        assert got[n] == [reference[settings]] * ROUNDS, (settings, got[n])
    # one model served them all, and none of their settings is stored on it
    held = pool.current
    assert held is not None and not hasattr(held, "settings")
    assert pool.get(blip_folder, settings=SETTINGS[0]).captioner is held


def test_device_and_dtype_are_the_pools_load_key(blip_folder: str) -> None:
    pool = CaptionerPool()
    fp32 = pool.get(blip_folder, dtype=torch.float32).captioner
    assert pool.get(blip_folder, dtype=torch.float32, settings=CaptionSettings(5, 1)).captioner is fp32
    fp16 = pool.get(blip_folder, dtype=torch.float16).captioner
    assert fp16 is not fp32 and pool.current is fp16
