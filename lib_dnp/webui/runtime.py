"""Process-wide WebUI resources: the captioner pool and the DNS cache.

None of this is per-request state: a request's own options and results live on its processing object. The pool
and cache are shared on purpose (a model kept loaded, results reused), and their keys cover everything that
could make one request's entry wrong for another.
"""

from __future__ import annotations

import logging
from typing import Any

from lib_dnp.cache import DnsCache
from lib_dnp.captioners import CaptionerPool, CaptionSettings
from lib_dnp.errors import OutOfMemory, is_out_of_memory
from lib_dnp.negatives import escape_prompt_syntax
from lib_dnp.params import DnpParams
from lib_dnp.webui import settings

log = logging.getLogger("lib_dnp")

pool = CaptionerPool()
_cache: DnsCache | None = None
# Process-wide counters for /dnp/v1/status (how much DNS work the cache saved), never per-request state.
stats = {"dns_images": 0}


def cache() -> DnsCache:
    global _cache
    if _cache is None:
        _cache = DnsCache(max_images=settings.cache_size())
    return _cache


def reset_cache() -> None:
    """Drop the DNS cache; the next generation builds it at the size Settings › DNP (or the flag) gives now."""
    global _cache
    _cache = None


def release_if_not_kept() -> None:
    """Settings › DNP › keep the captioner in memory, turned off: free it now rather than after the next use."""
    if not settings.keep_captioner():
        unload()


def captioner_device() -> tuple[Any, Any]:
    """(device, dtype) for the captioner: --dnp-captioner-device, else Settings › DNP, else the WebUI's
    interrogate device."""
    import torch
    from modules import devices, shared

    chosen = settings.captioner_device_name()
    device = torch.device(chosen) if chosen else devices.device_interrogate
    half = device.type == "cuda" and not shared.cmd_opts.no_half
    return device, torch.float16 if half else torch.float32


def captioner_for(params: DnpParams) -> Any:
    device, dtype = captioner_device()
    caption_settings = CaptionSettings(max_tokens=params.max_tokens, num_beams=params.num_beams)
    captioner = pool.get(params.captioner, device=device, dtype=dtype, settings=caption_settings)
    return GuardedCaptioner(RoomMadeCaptioner(captioner))


def make_room() -> None:
    """Under --medvram/--lowvram (and --medvram-sdxl with an SDXL model) move the SD model's part that sits on the
    GPU to the CPU before the captioner or the re-ranking CLIP runs, as the WebUI's own interrogator does; the
    WebUI's low-VRAM hooks bring each part back when the next pass uses it."""
    from modules import devices, lowvram, shared

    if lowvram.is_needed(shared.sd_model):
        lowvram.send_everything_to_cpu()
        devices.torch_gc()


class RoomMadeCaptioner:
    """A request's captioner whose model calls make room first (`make_room`); any other attribute is its own."""

    def __init__(self, captioner: Any) -> None:
        self.captioner = captioner

    def caption(self, images: Any) -> list[str]:
        make_room()
        return self.captioner.caption(images)

    def caption_candidates(self, images: Any, count: int) -> list[list[str]]:
        make_room()
        return self.captioner.caption_candidates(images, count)

    def settings_fingerprint(self) -> str:
        return self.captioner.settings_fingerprint()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.captioner, name)


class RoomMadeReranker:
    """The CLIP re-ranker, making room (`make_room`) before each pick."""

    def __init__(self, reranker: Any) -> None:
        self.reranker = reranker

    @property
    def name(self) -> str:
        return self.reranker.name

    def choose(self, *args: Any, **kwargs: Any) -> list[int]:
        make_room()
        return self.reranker.choose(*args, **kwargs)


class GuardedCaptioner:
    """The pool's captioner as a generation uses it: Interrupt, Skip and out-of-memory handled the WebUI's way.

    A captioner cannot be stopped halfway through its batch, so a press while it runs is honoured when it
    returns: its captions are dropped (Skipped or Interrupted "... during captioning"), and the images get the
    user's own negative, or the job stops on Interrupt. On out of memory (torch's error type, anywhere in the
    chain) the captioner is unloaded, so that the main pass gets the memory back, and `OutOfMemory` is raised. Captions come back with the WebUI's prompt syntax escaped, so the caption the
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
            raise OutOfMemory(
                f"[DNP] the captioner ran out of memory and was unloaded to free it ({_root_cause(error)})"
            ) from error
        check_stop(STAGE_CAPTIONING)
        return result


def _root_cause(error: BaseException) -> BaseException:
    """The innermost chained error (torch's own message, not the captioner's wrapping of it)."""
    for _ in range(8):
        if error.__cause__ is None:
            break
        error = error.__cause__
    return error


def after_captioning() -> None:
    """After a generation's captioning: free the captioner and the re-ranking CLIP when Settings › DNP says not to
    keep them; else, under --medvram/--lowvram (and --medvram-sdxl with an SDXL model), move both to the CPU so
    that they do not sit in VRAM during the UNet passes (the WebUI's own test for moving its models decides)."""
    from modules import devices, lowvram, shared

    if not settings.keep_captioner():
        unload()
    elif lowvram.is_needed(shared.sd_model):
        pool.offload()
        if _reranker is not None:
            _reranker.clip.offload()
        devices.torch_gc()


_reranker: Any = None  # the CLIP caption re-ranker, made on the first generation that re-ranks


def reranker_for(params: DnpParams) -> Any:
    """The CLIP caption re-ranker (open-clip ViT-B/16 with OpenAI weights; the WebUI ships open-clip), or None
    when re-ranking is off. Its model loads on the first pick; when it cannot (weights not downloadable
    offline), each image keeps the captioner's first caption and the pipeline warns."""
    global _reranker
    if params.rerank == "off":
        return None
    device = captioner_device()[0]
    if _reranker is None or _reranker.clip.device != device:  # Settings › DNP may have moved the captioner
        from lib_dnp.clip_models import OpenClipModel
        from lib_dnp.rerank import CaptionReranker

        _reranker = CaptionReranker(OpenClipModel("ViT-B-16", "openai", device))
    return RoomMadeReranker(_reranker)


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
