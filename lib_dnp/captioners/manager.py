"""At most one captioner in memory, reused across generations.

Captioner models are large (BLIP-2 OPT-2.7b is ~7 GB in fp16) and slow to load, so the pool keeps the one in use
and hands it out again when only generation settings (device, dtype, max tokens, beams) change; asking for another
model unloads the current one first, so two never sit in memory together. The factory is injectable: tests count
loads with a fake, the WebUI passes `functools.partial(HFCaptioner, allow_download=...)`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from lib_dnp.captioners.hf import HFCaptioner
from lib_dnp.captioners.registry import DEFAULT_MAX_TOKENS, local_folder, resolve

if TYPE_CHECKING:
    import torch
    from PIL import Image


class Captioner(Protocol):
    """What the pool and the pipeline need of a captioner; `HFCaptioner` is the real one."""

    device: Any
    dtype: Any
    max_tokens: int
    num_beams: int

    @property
    def loaded(self) -> bool: ...

    def caption(self, images: Sequence[Image.Image]) -> list[str]: ...

    def caption_candidates(self, images: Sequence[Image.Image], count: int) -> list[list[str]]: ...

    def offload(self) -> None: ...

    def unload(self) -> None: ...

    def settings_fingerprint(self) -> str: ...


CaptionerFactory = Callable[..., Captioner]
"""Called as `factory(spec, device=..., dtype=..., max_tokens=..., num_beams=...)`; must not load anything."""


def model_key(spec: str) -> str:
    """The identity of a captioner's model: registry keys and their model ids share one, and so do the spellings
    of one local folder."""
    return local_folder(spec) or resolve(spec)


class CaptionerPool:
    """Holds at most one captioner; see the module docstring."""

    def __init__(self, factory: CaptionerFactory = HFCaptioner) -> None:
        self._factory = factory
        self._captioner: Captioner | None = None
        self._key: str | None = None
        self._lock = threading.Lock()

    @property
    def current(self) -> Captioner | None:
        """The captioner held now (loaded or not), or None."""
        return self._captioner

    def get(
        self,
        spec: str,
        device: str | torch.device = "cpu",
        dtype: torch.dtype | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        num_beams: int = 1,
    ) -> Captioner:
        """The captioner for `spec` with these settings: the held one, re-set, when it is the same model; else a
        new one from the factory, after the held one is unloaded. Nothing is loaded here: the first caption loads."""
        key = model_key(spec)
        with self._lock:
            if self._captioner is not None and self._key == key:
                captioner = self._captioner
                captioner.device = device
                captioner.dtype = dtype
                captioner.max_tokens = max_tokens
                captioner.num_beams = num_beams
                return captioner
            self._release()
            self._captioner = self._factory(
                spec, device=device, dtype=dtype, max_tokens=max_tokens, num_beams=num_beams
            )
            self._key = key
            return self._captioner

    def offload(self) -> None:
        """Move the held captioner's model to the CPU, keeping it loaded."""
        with self._lock:
            if self._captioner is not None:
                self._captioner.offload()

    def unload(self) -> None:
        """Unload and forget the held captioner."""
        with self._lock:
            self._release()

    def _release(self) -> None:
        if self._captioner is not None:
            self._captioner.unload()
        self._captioner = None
        self._key = None
