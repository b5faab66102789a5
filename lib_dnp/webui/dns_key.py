"""The DNS cache key in the WebUI: everything that can change a DNS image, read from the WebUI's own state.

A cached DNS image may only serve a request whose DNS pass would sample the same image. Besides the pass's own
parts (prompt, seeds, sampler, steps, size, scale) that depends on

* **WebUI options.** Not a hand-made list: every option is in the key, except those whose settings section the
  DNS pass never reaches (`SKIPPED_SECTIONS`: saving, upscaling, face restoration, img2img, UI, training, ...). An
  option an extension adds lands in its own section and is therefore in the key. As a safety net, each DNS pass
  records which options it reads (`OptionReads`); a recorded option is in the key whatever its section. So a new
  or unknown option can cost a cache miss, never serve a stale image. The options are picked when the key is
  used (`WebUIDnsKey.fingerprint`), from a snapshot taken when it was made: the cache stores an entry after its
  pass has run, so a first pass that reads an option not yet recorded is keyed by it at once, not dead.
* **Files**: the checkpoint and VAE (hash, size, mtime), the textual-inversion embeddings and the LoRA (or
  hypernetwork) files the prompt names, and the WebUI's precision state (it can switch the VAE to fp32 after NaNs).
* **Request fields** the nested pass copies from the outer one (`dns_pass.COPIED_FIELDS`).

The captioner's settings are added by the caption cache itself (`DnsCache.caption`).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields
from types import SimpleNamespace
from typing import Any

from lib_dnp.cache import DnsKey, fingerprint
from lib_dnp.webui import dns_pass

# Settings sections (their ids) whose options act only where the DNS pass never goes: it saves nothing, runs no
# script, no hires fix, upscaler or face restoration, is a txt2img, and keeps only its images.
SKIPPED_SECTIONS = frozenset(
    {
        "saving-images",
        "saving-paths",
        "saving-to-dirs",
        "upscaling",
        "face-restoration",
        "postprocessing",
        "img2img",
        "system",
        "profiler",
        "API",
        "training",
        "interrogate",
        "ui",
        "ui_prompt_editing",
        "ui_gallery",
        "ui_alternatives",
        "infotext",
        "settings_in_ui",
        "canvas_hotkey",
    }
)


class OptionReads:
    """The names of the WebUI options that DNS passes have read, recorded while they sample.

    Recording swaps the class of the one `shared.opts` object for a subclass whose `__getattr__` (the path of
    every `opts.name` read) notes the name, for reads made on the recording thread only: another thread's read
    would only add names, which costs misses, but keep the key changing from one request to the next.
    """

    def __init__(self) -> None:
        self.names: set[str] = set()
        self._lock = threading.Lock()

    @contextmanager
    def recording(self, opts: Any) -> Iterator[None]:
        base = type(opts)
        thread = threading.get_ident()
        names = self.names
        lock = self._lock

        def __getattr__(self: Any, item: str) -> Any:
            if threading.get_ident() == thread and item not in names:
                with lock:
                    names.add(item)
            return base.__getattr__(self, item)

        recorder = type(base.__name__, (base,), {"__getattr__": __getattr__})
        # object.__setattr__: Options.__setattr__ would take "__class__" for an option name
        object.__setattr__(opts, "__class__", recorder)
        try:
            yield
        finally:
            object.__setattr__(opts, "__class__", base)


READS = OptionReads()  # for the server's life, like the cache it keys


def section_of(info: Any) -> str | None:
    """The settings-section id of an OptionInfo (None for hidden options and anything unknown)."""
    section = getattr(info, "section", None)
    return section[0] if isinstance(section, tuple) and section else None


def keyed_options(values: Mapping[str, Any], sections: Mapping[str, str | None], read: Iterable[str]) -> dict:
    """The options that go into the key: all of `values` except those of a skipped section never `read`.

    `sections` maps option names to section ids; an option missing there counts as unknown, hence keyed.
    """
    read = set(read)
    return {
        name: values[name]
        for name in sorted(values)
        if name in read or name not in sections or sections[name] not in SKIPPED_SECTIONS
    }


@dataclass(frozen=True)
class WebUIDnsKey(DnsKey):
    """A DnsKey whose WebUI options are chosen (`keyed_options`) each time it is used, from its snapshot."""

    options: str = "{}"  # JSON {name: [section id, value]} of every option when the request started

    def fingerprint(self) -> str:
        snapshot = json.loads(self.options)
        values = {name: value for name, (_, value) in snapshot.items()}
        sections = {name: section for name, (section, _) in snapshot.items()}
        parts = {f.name: getattr(self, f.name) for f in fields(DnsKey)}
        return fingerprint({**parts, "options": keyed_options(values, sections, READS.names)})


def options_snapshot(values: Mapping[str, Any], labels: Mapping[str, Any]) -> str:
    """The JSON a WebUIDnsKey keeps: each option's section id (None where unknown or hidden) and value.

    `values` is `opts.data`, which holds only what config.json and later changes set; an option left at its
    default is read from its OptionInfo, so setting an option to its default value keeps the key.
    """
    defaults = {
        name: info.default for name, info in labels.items() if not getattr(info, "do_not_save", False)
    }
    snapshot = {
        name: [section_of(labels.get(name)), _as_its_default(value, defaults.get(name))]
        for name, value in {**defaults, **values}.items()
    }
    return json.dumps(snapshot, sort_keys=True, default=str)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_its_default(value: Any, default: Any) -> Any:
    """A number in its option's type, as the WebUI's `Options.cast_value` casts it: 1.0 of an int option is 1.

    The WebUIs' GET /sdapi/v1/options types every int option as float (`opts.typemap`), so a client that posts back
    what it read (as Forge answers CLIP skip: 1.0) stores 1.0, which JSON would key apart from the 1 it replaced.
    """
    if not (_is_number(value) and _is_number(default)):
        return value
    try:
        cast = type(default)(value)
    except (OverflowError, ValueError):  # inf or nan for an int option: keyed as given
        return value
    return cast if cast == value else value


def file_stamp(path: str | None) -> list[Any] | None:
    """Size and mtime of a file: a file replaced under the same name (and hash cache) still changes the key."""
    if not path:
        return None
    try:
        stat = os.stat(path)
    except OSError:
        return [path, None]
    return [path, stat.st_size, stat.st_mtime_ns]


def named_embeddings(prompt: str, embeddings: Mapping[str, Any]) -> dict[str, Any]:
    """The embeddings whose name is in the prompt (CLIP lower-cases, so case is ignored; more is only safer)."""
    text = prompt.lower()
    return {
        name: [
            getattr(e, "hash", None),
            getattr(e, "vectors", None),
            file_stamp(getattr(e, "filename", None)),
        ]
        for name, e in sorted(embeddings.items())
        if name.lower() in text
    }


def dns_key(p: Any, index: int, pass_: dns_pass.DnsPass) -> DnsKey:
    """The cache key of image `index` of the job for the DNS pass `pass_`."""
    from modules import shared

    checkpoint = getattr(shared.sd_model, "sd_checkpoint_info", None)
    prompt = dns_pass.dns_prompt(p.all_prompts[index])
    state = {
        "fields": {name: getattr(p, name, None) for name in dns_pass.COPIED_FIELDS},
        "resize": [p.seed_resize_from_w, p.seed_resize_from_h],
        "tiling": bool(p.tiling),
        "checkpoint": file_stamp(getattr(checkpoint, "filename", None)),
        "vae": [p.sd_vae_name, p.sd_vae_hash, file_stamp(_loaded_vae_file())],
        "runtime": _runtime_state(),
        "embeddings": named_embeddings(prompt, _embeddings()),
        "networks": _network_files(prompt),
    }
    return WebUIDnsKey(
        model=f"{getattr(checkpoint, 'filename', '')}|{p.sd_model_hash}",
        prompt=prompt,
        seed=int(p.all_seeds[index]),
        # A variation seed changes nothing at strength 0, and the WebUI draws a random one per request then.
        subseed=int(p.all_subseeds[index]) if p.subseed_strength else 0,
        subseed_strength=float(p.subseed_strength),
        sampler=str(p.sampler_name),
        scheduler=str(getattr(p, "scheduler", "")),
        steps=pass_.steps,
        width=pass_.width,
        height=pass_.height,
        scale=pass_.scale,
        extra=fingerprint(state),
        options=options_snapshot(shared.opts.data, shared.opts.data_labels),
    )


def _loaded_vae_file() -> str | None:
    from modules import sd_vae

    return getattr(sd_vae, "loaded_vae_file", None)


def _runtime_state() -> dict[str, Any]:
    """State the WebUI sets from options at load time or on its own (not read by the pass as an option)."""
    from modules import devices, sd_hijack

    return {
        "dtypes": [str(getattr(devices, name, None)) for name in ("dtype", "dtype_vae", "dtype_unet")],
        "attention": str(getattr(getattr(sd_hijack, "model_hijack", None), "optimization_method", None)),
    }


def _embeddings() -> Mapping[str, Any]:
    """The loaded textual-inversion embeddings; where the WebUI keeps none in sd_hijack (Forge's text engine holds
    them), the files of the embeddings folder by name, which key them by size and mtime."""
    from modules import sd_hijack, shared

    database = getattr(getattr(sd_hijack, "model_hijack", None), "embedding_db", None)
    loaded = getattr(database, "word_embeddings", None)
    if loaded:
        return loaded
    folder = getattr(shared.cmd_opts, "embeddings_dir", None)
    files: dict[str, Any] = {}
    for root, _, names in os.walk(folder) if folder else ():
        for name in names:
            stem, suffix = os.path.splitext(name)
            if suffix.lower() in (".pt", ".bin", ".safetensors", ".png", ".webp", ".avif"):
                files[stem] = SimpleNamespace(hash=None, vectors=None, filename=os.path.join(root, name))
    return files


def _network_files(prompt: str) -> dict[str, Any]:
    """The files behind the prompt's extra-network tags (<lora:name:1>, <hypernet:name:1>).

    Types this does not know keep only their tag text, which is in the prompt and so in the key already.
    """
    import sys

    from modules import extra_networks, shared

    _, tags = extra_networks.parse_prompt(prompt)
    networks = sys.modules.get("networks")  # the built-in Lora extension's module, when it is loaded
    aliases = getattr(networks, "available_network_aliases", {}) or {}
    files: dict[str, Any] = {}
    for kind, entries in sorted(tags.items()):
        for entry in entries:
            name = entry.items[0] if entry.items else ""
            if kind in ("lora", "lyco"):
                files[f"{kind}:{name}"] = file_stamp(getattr(aliases.get(name), "filename", None))
            elif kind == "hypernet":
                files[f"{kind}:{name}"] = file_stamp((getattr(shared, "hypernetworks", {}) or {}).get(name))
    return files
