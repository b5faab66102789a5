"""Captioners for auto-DNP: they turn each diffusion-negative image into the text of its negative prompt.

Importing this package is cheap: torch and transformers are imported on the first caption, not here.

    pool = CaptionerPool()
    captioner = pool.get("blip-large", device="cuda", settings=CaptionSettings(max_tokens=30))
    negatives = captioner.caption(dns_images)  # one cleaned caption per image, in order
"""

from __future__ import annotations

from lib_dnp.captioners.cleanup import clean_caption
from lib_dnp.captioners.errors import CaptionerError, CaptionerNotFound
from lib_dnp.captioners.hf import CaptionSettings, HFCaptioner
from lib_dnp.captioners.manager import Captioner, CaptionerCall, CaptionerFactory, CaptionerPool, model_key
from lib_dnp.captioners.registry import (
    DEFAULT_CAPTIONER,
    REGISTRY,
    CaptionerEntry,
    available_offline,
    hub_cache_dir,
    hub_offline,
    resolve,
)

__all__ = [
    "DEFAULT_CAPTIONER",
    "REGISTRY",
    "CaptionSettings",
    "Captioner",
    "CaptionerCall",
    "CaptionerEntry",
    "CaptionerError",
    "CaptionerFactory",
    "CaptionerNotFound",
    "CaptionerPool",
    "HFCaptioner",
    "available_offline",
    "clean_caption",
    "hub_cache_dir",
    "hub_offline",
    "model_key",
    "resolve",
]
