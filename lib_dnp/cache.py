"""A bounded LRU of DNS results, keyed by a fingerprint of everything that determines them.

A DNS image depends on the model, the prompt, the seed (and subseed), the sampler, the schedule, the step count,
the size and the DNS guidance; its caption depends on the image and on the captioner and its settings. Keys are
built from those parts only, so changing anything else (CFG scale of the main pass, the user's negative prompt,
hires fix) reuses the entry, and changing any of those parts can never hit a stale one.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Any, Generic, TypeVar

V = TypeVar("V")


@dataclass(frozen=True)
class DnsKey:
    """Everything that determines one DNS image. Front ends fill every field; none has a default on purpose."""

    model: str  # checkpoint hash (and VAE), so a checkpoint switch never hits
    prompt: str
    seed: int
    subseed: int
    subseed_strength: float
    sampler: str
    scheduler: str
    steps: int  # the DNS pass's own step count
    width: int
    height: int
    scale: float  # the DNS guidance scale s of eq. 19
    extra: str = ""  # front-end specifics that also change the image (e.g. seed resize, eta, clip skip)

    def fingerprint(self) -> str:
        return fingerprint(asdict(self))


def fingerprint(parts: dict[str, Any]) -> str:
    """A stable hash of JSON-able parts (key order does not matter)."""
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class LRUCache(Generic[V]):
    """A small thread-safe LRU. `max_entries` 0 disables it."""

    def __init__(self, max_entries: int = 64):
        self.max_entries = max_entries
        self._items: OrderedDict[str, V] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> V | None:
        with self._lock:
            if key not in self._items:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return self._items[key]

    def put(self, key: str, value: V) -> None:
        if self.max_entries <= 0:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


# How many DNS images the WebUI keeps (--dnp-cache-size overrides it); each keeps up to four captions.
DEFAULT_CACHE_SIZE = 32


class DnsCache:
    """DNS images by `DnsKey`, captions by (`DnsKey`, captioner settings)."""

    def __init__(self, max_images: int = DEFAULT_CACHE_SIZE):
        self.images: LRUCache[Any] = LRUCache(max_images)
        self.captions: LRUCache[str] = LRUCache(max_images * 4)

    def image(self, key: DnsKey) -> Any | None:
        return self.images.get(key.fingerprint())

    def put_image(self, key: DnsKey, image: Any) -> None:
        self.images.put(key.fingerprint(), image)

    def caption(self, key: DnsKey, captioner: str) -> str | None:
        return self.captions.get(fingerprint({"image": key.fingerprint(), "captioner": captioner}))

    def put_caption(self, key: DnsKey, captioner: str, caption: str) -> None:
        self.captions.put(fingerprint({"image": key.fingerprint(), "captioner": captioner}), caption)

    def clear(self) -> None:
        self.images.clear()
        self.captions.clear()

    def stats(self) -> dict[str, Any]:
        """Entries, capacity, hits and misses of both maps (for /dnp/v1/status and the benchmark)."""
        return {
            name: {
                "entries": len(lru),
                "max_entries": lru.max_entries,
                "hits": lru.hits,
                "misses": lru.misses,
            }
            for name, lru in (("images", self.images), ("captions", self.captions))
        }
