"""The DNS cache: bounded, keyed by everything that determines a DNS image and its caption."""

from __future__ import annotations

import dataclasses

import pytest

from lib_dnp.cache import DnsCache, DnsKey, LRUCache


def key(**changes) -> DnsKey:
    base = DnsKey(
        model="abc123",
        prompt="a cat",
        seed=1,
        subseed=2,
        subseed_strength=0.0,
        sampler="Euler a",
        scheduler="automatic",
        steps=20,
        width=512,
        height=512,
        scale=7.0,
    )
    return dataclasses.replace(base, **changes)


@pytest.mark.parametrize(
    "change",
    [
        {"model": "def456"},
        {"prompt": "a dog"},
        {"seed": 3},
        {"subseed": 5},
        {"subseed_strength": 0.5},
        {"sampler": "DDIM"},
        {"scheduler": "karras"},
        {"steps": 10},
        {"width": 768},
        {"height": 640},
        {"scale": 5.0},
        {"extra": "clip_skip=2"},
    ],
)
def test_every_part_changes_the_key(change):
    assert key().fingerprint() != key(**change).fingerprint()


def test_same_parts_same_key():
    assert key().fingerprint() == key().fingerprint()


def test_lru_evicts_least_recently_used():
    cache: LRUCache[int] = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recent
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3
    assert len(cache) == 2


def test_zero_size_disables():
    cache: LRUCache[int] = LRUCache(0)
    cache.put("a", 1)
    assert cache.get("a") is None


def test_captions_depend_on_captioner_settings():
    cache = DnsCache()
    cache.put_image(key(), "image")
    cache.put_caption(key(), "blip-large|30|1", "a house")
    assert cache.image(key()) == "image"
    assert cache.caption(key(), "blip-large|30|1") == "a house"
    assert cache.caption(key(), "blip-large|20|1") is None
    assert cache.caption(key(seed=9), "blip-large|30|1") is None
    cache.clear()
    assert cache.image(key()) is None
