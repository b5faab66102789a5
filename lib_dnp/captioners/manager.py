"""At most one captioner in memory, reused across generations.

Captioner models are large (BLIP-2 OPT-2.7b is ~7 GB in fp16) and slow to load, so the pool keeps the one in use
and hands it out again to every request for the same model on the same device and dtype (the load key); asking
for another unloads the current one first, so two never sit in memory together. What may differ between
requests that share the model (max tokens, beams) is never stored on it: `get` returns a `CaptionerCall`, which
passes its own `CaptionSettings` with every call. The factory is injectable: tests count loads with a fake.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from lib_dnp.captioners.hf import CaptionSettings, HFCaptioner
from lib_dnp.captioners.registry import local_folder, resolve

if TYPE_CHECKING:
    import torch
    from PIL import Image


class Captioner(Protocol):
    """What the pool needs of a captioner; `HFCaptioner` is the real one."""

    @property
    def loaded(self) -> bool: ...

    def caption(
        self, images: Sequence[Image.Image], settings: CaptionSettings | None = None
    ) -> list[str]: ...

    def caption_candidates(
        self, images: Sequence[Image.Image], count: int, settings: CaptionSettings | None = None
    ) -> list[list[str]]: ...

    def offload(self) -> None: ...

    def unload(self) -> None: ...

    def settings_fingerprint(self, settings: CaptionSettings | None = None) -> str: ...


CaptionerFactory = Callable[..., Captioner]
"""Called as `factory(spec, device=..., dtype=...)`; must not load anything."""


def model_key(spec: str) -> str:
    """The identity of a captioner's model: registry keys and their model ids share one, and so do the spellings
    of one local folder."""
    return local_folder(spec) or resolve(spec)


class CaptionerCall:
    """One request's use of the pool's captioner: the shared model, with this request's settings passed on each
    call. It has the interface the pipeline uses (`caption`, `caption_candidates`, `settings_fingerprint`); any
    other attribute is the shared captioner's."""

    def __init__(self, captioner: Captioner, settings: CaptionSettings) -> None:
        self.captioner = captioner
        self.settings = settings

    def caption(self, images: Sequence[Image.Image]) -> list[str]:
        return self.captioner.caption(images, self.settings)

    def caption_candidates(self, images: Sequence[Image.Image], count: int) -> list[list[str]]:
        return self.captioner.caption_candidates(images, count, self.settings)

    def settings_fingerprint(self) -> str:
        return self.captioner.settings_fingerprint(self.settings)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.captioner, name)

    def __repr__(self) -> str:
        return f"CaptionerCall({self.captioner!r}, {self.settings})"


class CaptionerPool:
    """Holds at most one captioner; see the module docstring."""

    def __init__(self, factory: CaptionerFactory = HFCaptioner) -> None:
        self._factory = factory
        self._captioner: Captioner | None = None
        self._key: tuple[str, str, str] | None = None
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
        settings: CaptionSettings | None = None,
    ) -> CaptionerCall:
        """The captioner for `spec` on `device` in `dtype`, to be called with `settings`: the held one when it is
        the same model, device and dtype; else a new one from the factory, after the held one is unloaded.
        Nothing is loaded here: the first caption loads."""
        key = (model_key(spec), str(device), str(dtype))
        with self._lock:
            if self._captioner is None or self._key != key:
                self._release()
                self._captioner = self._factory(spec, device=device, dtype=dtype)
                self._key = key
            return CaptionerCall(self._captioner, settings or CaptionSettings())

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
