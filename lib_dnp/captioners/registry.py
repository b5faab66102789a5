"""Known captioners, and where a captioner's model comes from.

A captioner *spec* is what the user types: a registry key (`blip-large`), any Hugging Face image-to-text model id
(`Salesforce/blip-image-captioning-large`) or a local model folder. `resolve` turns it into what
`from_pretrained` takes. Nothing here imports torch or transformers, and nothing touches the network: the WebUI
imports this module at start-up and lists the registry in its settings.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class CaptionerEntry:
    """One captioner the extension offers by name."""

    key: str
    model_id: str
    family: str
    """The transformers `model_type` of the model: `blip`, `blip-2` or `git`."""
    label: str
    approx_fp16_gb: float
    """Size of the fp16 weights, so the UI can warn before a large download or a VRAM-hungry load."""


_ENTRIES = (
    CaptionerEntry("blip-base", "Salesforce/blip-image-captioning-base", "blip", "BLIP base", 0.5),
    CaptionerEntry("blip-large", "Salesforce/blip-image-captioning-large", "blip", "BLIP large", 0.95),
    CaptionerEntry(
        "blip2-opt-2.7b", "Salesforce/blip2-opt-2.7b", "blip-2", "BLIP-2 OPT-2.7b (the paper's)", 7.2
    ),
    CaptionerEntry("blip2-flan-t5-xl", "Salesforce/blip2-flan-t5-xl", "blip-2", "BLIP-2 Flan-T5-XL", 7.9),
    CaptionerEntry("git-large-coco", "microsoft/git-large-coco", "git", "GIT large COCO", 0.8),
)

REGISTRY: Mapping[str, CaptionerEntry] = MappingProxyType({entry.key: entry for entry in _ENTRIES})
DEFAULT_CAPTIONER = "blip-large"
# Longest caption, in captioner tokens: BLIP-large captions of SD images take 8-40 CLIP tokens.
DEFAULT_MAX_TOKENS = 30

# Weight files in the order transformers looks for them; the index files name the shards of large models.
SAFETENSORS_FILES = ("model.safetensors", "model.safetensors.index.json")
PICKLE_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json")

_TRUE_VALUES = {"1", "on", "yes", "true"}


def resolve(spec: str) -> str:
    """The model id or folder for a captioner spec: a registry key maps to its model id, anything else (a hub id,
    a local folder) is returned as given, less surrounding whitespace."""
    text = spec.strip()
    entry = REGISTRY.get(text)
    return entry.model_id if entry is not None else text


def looks_like_path(spec: str) -> bool:
    """Whether a spec can only be meant as a folder: hub ids are `name` or `owner/name`, never absolute, never
    starting with `.` or `~`, never with two slashes or a backslash."""
    text = resolve(spec)
    return os.path.isabs(text) or text.startswith((".", "~")) or text.count("/") > 1 or "\\" in text


def local_folder(spec: str) -> str | None:
    """The absolute path of the spec's model folder if it resolves to an existing directory, else None.

    Like transformers, an existing folder wins over a hub id of the same spelling.
    """
    path = os.path.expanduser(resolve(spec))
    return os.path.abspath(path) if path and os.path.isdir(path) else None


def hub_offline() -> bool:
    """Whether the user forbade hub access. Read at call time (huggingface_hub reads its constants once, at
    import), so a test or a setting that changes the environment later is honoured."""
    return any(
        os.environ.get(name, "").strip().lower() in _TRUE_VALUES
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def hub_cache_dir() -> str:
    """The Hugging Face hub cache directory, resolved from the environment at call time, the way
    huggingface_hub and transformers 4.30 resolve it at import time."""
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "TRANSFORMERS_CACHE"):
        value = os.environ.get(name)
        if value:
            return os.path.expanduser(value)
    hf_home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache"), "huggingface"
    )
    return os.path.join(os.path.expanduser(hf_home), "hub")


def download_command() -> str:
    """The download command of the installed huggingface_hub: `hf download` (hub 0.34 and later; 1.x no longer
    installs `huggingface-cli`), else `huggingface-cli download`. Read from the package's own console scripts."""
    from importlib import metadata

    try:
        scripts = {
            e.name
            for e in metadata.distribution("huggingface_hub").entry_points
            if e.group == "console_scripts"
        }
    except metadata.PackageNotFoundError:
        scripts = set()
    return "hf download" if "hf" in scripts or not scripts else "huggingface-cli download"


def cached_hub_file(model_id: str, filename: str) -> str | None:
    """The path of `filename` of hub model `model_id` in the local cache, or None. Never touches the network."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(model_id, filename, cache_dir=hub_cache_dir())
    except ValueError:  # not a valid repo id (huggingface_hub's HFValidationError is a ValueError)
        return None
    # A miss is None, or a sentinel object when the hub once said the file does not exist.
    return found if isinstance(found, str) else None


def _folder_has_weights(folder: str) -> bool:
    return any(name.endswith((".safetensors", ".bin")) for name in os.listdir(folder))


def _cached_weights(model_id: str, names: tuple[str, ...]) -> bool:
    """Whether one of the weight files `names` (a single file or an index with all its shards) is cached."""
    for name in names:
        path = cached_hub_file(model_id, name)
        if path is None:
            continue
        if not name.endswith(".index.json"):
            return True
        with open(path, encoding="utf-8") as index:
            shards = set(json.load(index).get("weight_map", {}).values())
        if shards and all(cached_hub_file(model_id, shard) is not None for shard in shards):
            return True
    return False


def available_offline(spec: str) -> bool:
    """Whether the captioner can be loaded without the network: a local folder with a config.json and weights, or
    a hub model whose config.json and weights are in the Hugging Face cache (a partial download does not count)."""
    folder = local_folder(spec)
    if folder is not None:
        return os.path.isfile(os.path.join(folder, "config.json")) and _folder_has_weights(folder)
    model_id = resolve(spec)
    if not model_id or cached_hub_file(model_id, "config.json") is None:
        return False
    return _cached_weights(model_id, SAFETENSORS_FILES + PICKLE_FILES)


def has_safetensors(spec: str) -> bool:
    """Whether the model's weights are known to exist as safetensors locally (folder or cache).

    The WebUI's safe-unpickle check rejects transformers' pytorch_model.bin, so a loader that knows safetensors
    exist asks for them explicitly instead of letting a stale .bin win.
    """
    folder = local_folder(spec)
    if folder is not None:
        return any(name.endswith(".safetensors") for name in os.listdir(folder))
    return _cached_weights(resolve(spec), SAFETENSORS_FILES)


def api_refusal(spec: str, hub_downloads: bool) -> str | None:
    """Why a request from the API may not use captioner `spec`, or None when it may.

    The server's owner decides what a stranger's request may make the server load: registry captioners, models
    already in the Hugging Face cache and captioner folders on the server, with safetensors weights (never a
    pickle); any other hub model only when `hub_downloads` is allowed. A refused spec gets one message whatever
    the reason (no such folder, a folder that is no captioner, a model not cached), so that the answer tells the
    caller nothing about which paths exist on the server. Decided before any network access.
    """
    text = spec.strip()
    if text in REGISTRY or text in {entry.model_id for entry in REGISTRY.values()}:
        return None
    folder = local_folder(text)
    if folder is None and not looks_like_path(text) and hub_downloads:
        return None
    source = folder or text
    if (
        (folder is not None or not looks_like_path(text))
        and available_offline(source)
        and has_safetensors(source)
    ):
        return None
    return (
        f"captioner {text!r} is not available to API requests on this server: use a registry captioner "
        f"({', '.join(REGISTRY)}), a model already in the server's Hugging Face cache or a captioner folder on the "
        "server, both with safetensors weights; the server's owner can let API requests download captioners "
        "(Settings › DNP)"
    )
