"""Process-wide WebUI resources: the captioner pool, the DNS cache, and the last results shown in the UI.

None of this is per-request state: a request's own options and results live on its processing object. The pool
and cache are shared on purpose (a model kept loaded, results reused), and their keys cover everything that
could make one request's entry wrong for another.
"""

from __future__ import annotations

import logging
from typing import Any

from lib_dnp.cache import DnsCache
from lib_dnp.captioners import CaptionerPool
from lib_dnp.params import DnpParams

log = logging.getLogger("lib_dnp")

pool = CaptionerPool()
_cache: DnsCache | None = None
# The accordion shows the DNS images and captions of the latest generation of each tab (UI only).
last_results: dict[str, tuple[list[Any], list[str]]] = {}


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
    return pool.get(
        params.captioner, device=device, dtype=dtype, max_tokens=params.max_tokens, num_beams=params.num_beams
    )


def after_captioning() -> None:
    """Under --medvram/--lowvram the captioner must not sit in VRAM during the UNet passes."""
    from modules import shared

    if shared.cmd_opts.medvram or shared.cmd_opts.lowvram:
        pool.offload()


def unload() -> bool:
    """Free the captioner; True when one was held."""
    held = pool.current is not None
    pool.unload()
    try:
        from modules import devices

        devices.torch_gc()
    except ImportError:
        pass
    return held
