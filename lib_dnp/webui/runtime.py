"""Process-wide WebUI resources: the captioner pool and the DNS cache.

None of this is per-request state: a request's own options and results live on its processing object. The pool
and cache are shared on purpose (a model kept loaded, results reused), and their keys cover everything that
could make one request's entry wrong for another.
"""

from __future__ import annotations

import logging
from typing import Any

from lib_dnp.cache import DnsCache
from lib_dnp.captioners import CaptionerPool
from lib_dnp.negatives import escape_prompt_syntax
from lib_dnp.params import DnpParams

log = logging.getLogger("lib_dnp")

pool = CaptionerPool()
_cache: DnsCache | None = None
# Process-wide counters for /dnp/v1/status (how much DNS work the cache saved), never per-request state.
stats = {"dns_images": 0}


def cache() -> DnsCache:
    global _cache
    if _cache is None:
        from modules import shared

        _cache = DnsCache(max_images=max(0, int(getattr(shared.cmd_opts, "dnp_cache_size", 32) or 0)))
    return _cache


def captioner_device() -> tuple[Any, Any]:
    """(device, dtype) for the captioner: --dnp-captioner-device, else the WebUI's interrogate device."""
    import torch
    from modules import devices, shared

    chosen = getattr(shared.cmd_opts, "dnp_captioner_device", None)
    device = torch.device(chosen) if chosen else devices.device_interrogate
    half = device.type == "cuda" and not shared.cmd_opts.no_half
    return device, torch.float16 if half else torch.float32


def captioner_for(params: DnpParams) -> Any:
    device, dtype = captioner_device()
    captioner = pool.get(
        params.captioner, device=device, dtype=dtype, max_tokens=params.max_tokens, num_beams=params.num_beams
    )
    return GuardedCaptioner(captioner)


class GuardedCaptioner:
    """The pool's captioner as a generation uses it: Interrupt, Skip and out-of-memory handled the WebUI's way.

    A captioner cannot be stopped halfway through its batch, so a press while it runs is honoured when it
    returns: its captions are dropped (DnsInterrupted, "... during captioning"), and the images get the user's
    own negative, or the job stops on Interrupt. On out of memory the captioner is unloaded, so that the main
    pass gets the memory back. Captions come back with the WebUI's prompt syntax escaped, so the caption the
    infotext reports is exactly the text in the negative prompt. Every other attribute is the captioner's own.
    """

    def __init__(self, captioner: Any) -> None:
        self.captioner = captioner

    def caption(self, images: Any) -> list[str]:
        return [escape_prompt_syntax(text) for text in self._guarded(self.captioner.caption, images)]

    def caption_candidates(self, images: Any, count: int) -> list[list[str]]:
        groups = self._guarded(self.captioner.caption_candidates, images, count)
        return [[escape_prompt_syntax(text) for text in group] for group in groups]

    def settings_fingerprint(self) -> str:
        return self.captioner.settings_fingerprint() + "|prompt-syntax-escaped"

    def __getattr__(self, name: str) -> Any:
        return getattr(self.captioner, name)

    def _guarded(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        from lib_dnp.webui.dns_pass import STAGE_CAPTIONING, check_stop

        check_stop(STAGE_CAPTIONING)
        try:
            result = method(*args, **kwargs)
        except Exception as error:
            if not is_out_of_memory(error):
                raise
            unload()
            raise RuntimeError(
                f"[DNP] the captioner ran out of memory and was unloaded to free it ({error})"
            ) from error
        check_stop(STAGE_CAPTIONING)
        return result


def is_out_of_memory(error: BaseException | None) -> bool:
    """torch's OutOfMemoryError, or an error caused by one (HFCaptioner wraps what it catches)."""
    seen = 0
    while error is not None and seen < 8:
        if type(error).__name__ == "OutOfMemoryError" or "out of memory" in str(error).lower():
            return True
        error, seen = error.__cause__ or error.__context__, seen + 1
    return False


def after_captioning() -> None:
    """Under --medvram/--lowvram (and --medvram-sdxl with an SDXL model) the captioner must not sit in VRAM during
    the UNet passes: the WebUI's own test for moving its models off the GPU decides."""
    from modules import lowvram, shared

    if lowvram.is_needed(shared.sd_model):
        pool.offload()


_reranker: Any = None  # the CLIP caption re-ranker, made on the first generation that re-ranks


def reranker_for(params: DnpParams) -> Any:
    """The CLIP caption re-ranker (open-clip ViT-B/16 with OpenAI weights; the WebUI ships open-clip), or None
    when re-ranking is off. Its model loads on the first pick; when it cannot (weights not downloadable
    offline), each image keeps the captioner's first caption and the pipeline warns."""
    global _reranker
    if params.rerank == "off":
        return None
    if _reranker is None:
        from lib_dnp.evaluation.clip_models import OpenClipModel
        from lib_dnp.rerank import CaptionReranker

        _reranker = CaptionReranker(OpenClipModel("ViT-B-16", "openai", captioner_device()[0]))
    return _reranker


def unload() -> bool:
    """Free the captioner and the re-ranker's CLIP; True when one was held."""
    global _reranker
    held = pool.current is not None or _reranker is not None
    pool.unload()
    _reranker = None
    try:
        from modules import devices

        devices.torch_gc()
    except ImportError:
        pass
    return held
