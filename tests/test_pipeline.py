"""Orchestration of one batch: captions reach the negative of the right image; failures never escape."""

from __future__ import annotations

import pytest
import torch

from lib_dnp.cache import DnsCache, DnsKey
from lib_dnp.captioners.errors import CaptionerNotFound
from lib_dnp.errors import BadSettings, Interrupted, NoCaptioner, OutOfMemory, Skipped, UnexpectedError
from lib_dnp.params import parse_params
from lib_dnp.pipeline import ImageSpec, manual_captions, run_batch


def spec(seed: int, prompt: str = "a cat", negative: str = "blurry") -> ImageSpec:
    key = DnsKey(
        model="m",
        prompt=prompt,
        seed=seed,
        subseed=0,
        subseed_strength=0.0,
        sampler="Euler a",
        scheduler="automatic",
        steps=4,
        width=64,
        height=64,
        scale=7.0,
    )
    return ImageSpec(prompt=prompt, negative=negative, key=key)


class FakeSampler:
    """DNS 'images' are strings naming their seed, so a caption can be traced to its image."""

    def __init__(self, images):
        self.images = images
        self.calls: list[list[int]] = []

    def __call__(self, indices):
        self.calls.append(list(indices))
        return [f"dns-image-seed{self.images[i].key.seed}" for i in indices]


class FakeCaptioner:
    def __init__(self, fail: Exception | None = None):
        self.fail = fail
        self.calls: list[list[str]] = []

    def caption(self, images):
        self.calls.append(list(images))
        if self.fail:
            raise self.fail
        return [f"caption of {image}" for image in images]

    def settings_fingerprint(self) -> str:
        return "fake|30|1"


AUTO = parse_params({"enabled": True})


def test_each_image_gets_the_caption_of_its_own_dns_image():
    images = [spec(11), spec(12, negative=""), spec(13, prompt="a dog")]
    sampler, captioner = FakeSampler(images), FakeCaptioner()
    results = run_batch(images, AUTO, sampler, captioner)
    assert [r.caption for r in results] == [
        "caption of dns-image-seed11",
        "caption of dns-image-seed12",
        "caption of dns-image-seed13",
    ]
    assert results[0].negative == "blurry, caption of dns-image-seed11"
    assert results[1].negative == "caption of dns-image-seed12"
    assert all(r.ok for r in results)
    assert (
        sampler.calls == [[0, 1, 2]] and len(captioner.calls) == 1
    )  # one DNS pass, one batched caption call


def test_composition_is_applied():
    params = parse_params({"enabled": True, "composition": "prepend"})
    results = run_batch([spec(1)], params, FakeSampler([spec(1)]), FakeCaptioner())
    assert results[0].negative == "caption of dns-image-seed1, blurry"


def test_failing_captioner_keeps_the_users_negative_and_says_why():
    images = [spec(1), spec(2)]
    # Worded like an out-of-memory error, but not torch's type: the type decides, not the text.
    results = run_batch(
        images, AUTO, FakeSampler(images), FakeCaptioner(fail=RuntimeError("CUDA out of memory"))
    )
    assert [r.negative for r in results] == ["blurry", "blurry"]
    assert all(type(r.failure) is UnexpectedError for r in results)
    assert results[0].error == "RuntimeError: CUDA out of memory"
    assert results[0].failure.remedy == "see the console for details"
    assert all(r.caption is None and not r.ok for r in results)
    assert all(r.dns_image is not None for r in results)


def test_torch_out_of_memory_is_recorded_as_out_of_memory():
    images = [spec(1)]
    oom = torch.cuda.OutOfMemoryError("CUDA error: tried to allocate 2.00 GiB")
    results = run_batch(images, AUTO, FakeSampler(images), FakeCaptioner(fail=oom))
    failure = results[0].failure
    assert isinstance(failure, OutOfMemory) and failure.__cause__ is oom
    assert "--medvram" in failure.remedy and results[0].negative == "blurry"


def test_captioner_not_found_stays_typed_with_its_own_message():
    images = [spec(1), spec(2)]
    missing = CaptionerNotFound(
        "[DNP] captioner 'x/y' is not in the Hugging Face cache; download it with ..."
    )
    results = run_batch(images, AUTO, FakeSampler(images), FakeCaptioner(fail=missing))
    assert all(r.failure is missing for r in results)
    assert missing.remedy == ""  # the message itself says how to get the model
    assert results[0].error == str(missing)


@pytest.mark.parametrize(("stop", "stops_job"), [(Interrupted, True), (Skipped, False)])
def test_interrupt_and_skip_during_the_dns_pass(stop, stops_job):
    images = [spec(1), spec(2)]
    captioner = FakeCaptioner()

    def stopped(indices):
        raise stop("during the DNS pass")

    results = run_batch(images, AUTO, stopped, captioner)
    assert all(isinstance(r.failure, stop) and r.failure.stops_job is stops_job for r in results)
    assert results[0].error == f"{stop.verb} during the DNS pass"
    assert [r.negative for r in results] == ["blurry", "blurry"] and captioner.calls == []


def test_missing_captioner_is_an_error_not_an_exception():
    results = run_batch([spec(1)], AUTO, FakeSampler([spec(1)]), None)
    assert isinstance(results[0].failure, NoCaptioner) and "no captioner" in results[0].error


def test_cache_hit_skips_dns_and_captioning():
    images = [spec(1), spec(2)]
    cache = DnsCache()
    first_sampler, first_captioner = FakeSampler(images), FakeCaptioner()
    first = run_batch(images, AUTO, first_sampler, first_captioner, cache)
    sampler, captioner = FakeSampler(images), FakeCaptioner()
    again = run_batch(images, AUTO, sampler, captioner, cache)
    assert [r.caption for r in again] == [r.caption for r in first]
    assert sampler.calls == [] and captioner.calls == []
    assert all(r.from_cache for r in again)


def test_partial_cache_hit_samples_only_the_misses():
    cache = DnsCache()
    run_batch([spec(1)], AUTO, FakeSampler([spec(1)]), FakeCaptioner(), cache)
    images = [spec(1), spec(2)]
    sampler = FakeSampler(images)
    results = run_batch(images, AUTO, sampler, FakeCaptioner(), cache)
    assert sampler.calls == [[1]]
    assert results[0].from_cache and not results[1].from_cache


def test_cache_off_recomputes():
    cache = DnsCache()
    params = parse_params({"enabled": True, "cache": False})
    run_batch([spec(1)], params, FakeSampler([spec(1)]), FakeCaptioner(), cache)
    sampler = FakeSampler([spec(1)])
    run_batch([spec(1)], params, sampler, FakeCaptioner(), cache)
    assert sampler.calls == [[0]] and len(cache.images) == 0


def test_a_changed_prompt_never_hits_a_stale_entry():
    cache = DnsCache()
    run_batch([spec(1, prompt="a cat")], AUTO, FakeSampler([spec(1)]), FakeCaptioner(), cache)
    images = [spec(1, prompt="a dog")]
    sampler = FakeSampler(images)
    run_batch(images, AUTO, sampler, FakeCaptioner(), cache)
    assert sampler.calls == [[0]]


def test_return_dns_images_fetches_images_for_cached_captions():
    cache = DnsCache()
    run_batch([spec(1)], AUTO, FakeSampler([spec(1)]), FakeCaptioner(), cache)
    params = parse_params({"enabled": True, "return_dns_images": True})
    results = run_batch([spec(1)], params, FakeSampler([spec(1)]), FakeCaptioner(), cache)
    assert results[0].dns_image == "dns-image-seed1"


def test_manual_mode_uses_the_users_captions_without_sampling():
    images = [spec(1), spec(2)]
    sampler, captioner = FakeSampler(images), FakeCaptioner()
    params = parse_params({"enabled": True, "mode": "manual", "captions": ["a house", "a tree"]})
    results = run_batch(images, params, sampler, captioner)
    assert [r.negative for r in results] == ["blurry, a house", "blurry, a tree"]
    assert sampler.calls == [] and captioner.calls == []


def test_manual_mode_wrong_caption_count():
    params = parse_params({"enabled": True, "mode": "manual", "captions": ["a", "b"]})
    images = [spec(1), spec(2), spec(3)]
    results = run_batch(images, params, FakeSampler(images), FakeCaptioner())
    assert all(isinstance(r.failure, BadSettings) for r in results)
    assert results[0].error == "[DNP] captions: expected 1 caption or 3 (one per image), but got 2"
    assert [r.negative for r in results] == ["blurry"] * 3


@pytest.mark.parametrize(("count", "captions"), [(3, ["x"]), (2, ["x", "y"])])
def test_manual_captions_broadcast(count, captions):
    params = parse_params({"enabled": True, "mode": "manual", "captions": captions})
    assert len(manual_captions(params, count)) == count


def test_stages_are_reported():
    stages = []
    images = [spec(1), spec(2)]
    run_batch(images, AUTO, FakeSampler(images), FakeCaptioner(), on_stage=lambda s, n: stages.append((s, n)))
    assert stages == [("dns", 2), ("caption", 2)]


def test_sampler_returning_wrong_count_is_an_error():
    results = run_batch([spec(1), spec(2)], AUTO, lambda idx: ["only one"], FakeCaptioner())
    assert all("returned 1 images" in r.error for r in results)


def test_a_new_negative_reuses_the_cached_caption_and_composes_with_its_own_negative():
    """The DNS image does not depend on the user's negative: the same key with another negative is a cache hit,
    and the cached caption joins the new negative, not the one it was first composed with."""
    cache = DnsCache()
    run_batch([spec(1, negative="blurry")], AUTO, FakeSampler([spec(1)]), FakeCaptioner(), cache)
    images = [spec(1, negative="lowres, watermark")]
    sampler, captioner = FakeSampler(images), FakeCaptioner()
    (result,) = run_batch(images, AUTO, sampler, captioner, cache)
    assert sampler.calls == [] and captioner.calls == [] and result.from_cache
    assert result.negative == "lowres, watermark, caption of dns-image-seed1"
    # and another seed is not served from that entry
    other = [spec(2, negative="lowres, watermark")]
    sampler = FakeSampler(other)
    run_batch(other, AUTO, sampler, FakeCaptioner(), cache)
    assert sampler.calls == [[0]]
