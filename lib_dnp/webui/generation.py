"""What the DNP script does to a WebUI generation: run the core for the whole job and write its results into p.

`Script.process` only validates the settings; the job's DNS pass runs from the first `Script.before_process_batch`,
which the WebUI calls after every script's `process()` (so after sd-dynamic-prompts and the like have written each
image's final prompt into p.all_prompts, whatever order the scripts load in) and before any conditioning is
computed, so the main pass, the hires pass and every image's infotext see the per-image negatives.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from lib_dnp import infotext
from lib_dnp.cache import DnsKey, fingerprint
from lib_dnp.negatives import chunk_note, compose_negative, user_negative_of
from lib_dnp.params import DnpParams, DnpParamsError, dns_scale, dns_size, dns_steps, parse_params
from lib_dnp.pipeline import ImageResult, ImageSpec, run_batch
from lib_dnp.webui import dns_pass, runtime

log = logging.getLogger("lib_dnp")

RESULTS = "_dnp_results"  # per-request results live on the processing object, never in module globals
RETURN_IMAGES = "_dnp_return_images"
INFO = "_dnp_info"
OVERRIDES = "_dnp_overrides"  # X/Y/Z values, merged into the args before validation
PENDING = "_dnp_pending"  # the validated params, from process() until the first before_process_batch
DNS_JOB = "DNP: diffusion-negative pass"
CAPTION_JOB = "DNP: captioning"


def params_for(p: Any, args: Any) -> DnpParams:
    """The script's args (the one dict the UI and the API send) plus any X/Y/Z overrides, validated."""
    data = dict(args) if isinstance(args, dict) else args
    overrides = getattr(p, OVERRIDES, None)
    if overrides and isinstance(data, dict):
        data = {**data, **overrides}
    return parse_params(data)


def process(p: Any, args: Any) -> None:
    try:
        params = params_for(p, args)
    except DnpParamsError as error:
        _warn(p, f"settings not used ({error}); generating with your own negative prompt")
        return
    if params.enabled:
        setattr(p, PENDING, params)


def before_process_batch(p: Any) -> None:
    """The whole job's DNS pass, captioning and composition, once, before the first batch is conditioned.

    Not in process(): scripts that rewrite the prompts there (sd-dynamic-prompts' wildcards and `{a|b}` variants,
    which also rewrite the negatives and seeds) may run after ours, depending on folder names and the user's
    callback order; every process() has run by the time the first batch starts. The WebUI has already sliced that
    batch's negatives from p.all_negative_prompts, so they are sliced again here (the hires ones are sliced later,
    in parse_extra_network_prompts, from the lists apply_results writes)."""
    params: DnpParams | None = getattr(p, PENDING, None)
    if params is None:
        return
    setattr(p, PENDING, None)
    results = run_job(p, params)
    apply_results(p, params, results)
    start = p.iteration * p.batch_size
    p.negative_prompts = p.all_negative_prompts[start : start + p.batch_size]
    state = _state()
    if state.interrupted or state.stopping_generation:
        # The WebUI checks Interrupt only between batches; an empty batch is its own way to end the job here,
        # before the first batch samples, as an Interrupt in process() did.
        p.prompts = []


def _state() -> Any:
    from modules import shared

    return shared.state


def _key(p: Any, index: int, pass_: dns_pass.DnsPass) -> DnsKey:
    from modules import shared

    opts = shared.opts
    model = getattr(getattr(shared.sd_model, "sd_checkpoint_info", None), "filename", "")
    extra = {
        option: opts.data.get(option)
        for option in (
            "CLIP_stop_at_last_layers",
            "eta_noise_seed_delta",
            "randn_source",
            "eta_ancestral",
            "eta_ddim",
        )
    }
    extra.update(
        resize=(p.seed_resize_from_w, p.seed_resize_from_h), tiling=bool(p.tiling), vae=p.sd_vae_hash
    )
    return DnsKey(
        model=f"{model}|{p.sd_model_hash}",
        prompt=dns_pass.dns_prompt(p.all_prompts[index]),
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
        extra=fingerprint({"options": json.dumps(extra, default=str)}),
    )


def run_job(p: Any, params: DnpParams, with_images: bool = False) -> list[ImageResult]:
    """DNS pass (or cache), captioning and composition for every image of the job. Never raises for a failure
    of the pass or the captioner: see each result's `error`."""
    from modules import shared

    pass_ = dns_pass.DnsPass(
        dns_steps(params, p.steps), dns_scale(params, p.cfg_scale), *dns_size(params, p.width, p.height)
    )
    specs = [
        ImageSpec(prompt=p.all_prompts[i], negative=p.all_negative_prompts[i], key=_key(p, i, pass_))
        for i in range(len(p.all_prompts))
    ]
    if with_images and not params.return_dns_images:
        params = params.copy(update={"return_dns_images": True})
    captioner = runtime.captioner_for(params) if params.mode == "auto" else None

    state = shared.state
    saved_job_count = state.job_count

    def on_stage(stage: str, count: int) -> None:
        # The DNS pass and the captioning show in the progress bar as jobs of their own.
        if stage == "dns":
            state.job_count = -(-count // p.batch_size) + (1 if captioner is not None else 0)
            state.job_no = 0
        else:
            state.job = CAPTION_JOB
            state.textinfo = f"{CAPTION_JOB} ({count} images)"

    try:
        results = run_batch(
            specs,
            params,
            sample_dns=lambda indices: _sample_dns(p, indices, pass_),
            captioner=captioner,
            cache=runtime.cache(),
            on_stage=on_stage,
            reranker=runtime.reranker_for(params),
        )
    finally:
        if captioner is not None:
            runtime.after_captioning()
        # The main pass counts its jobs from scratch, exactly as without the extension.
        state.job_count, state.job_no, state.job = saved_job_count, 0, ""
    return results


def _sample_dns(p: Any, indices: list[int], pass_: dns_pass.DnsPass) -> list[Any]:
    runtime.stats["dns_images"] += len(indices)
    return dns_pass.run(p, indices, pass_, DNS_JOB)


def apply_results(p: Any, params: DnpParams, results: list[ImageResult]) -> None:
    """Per-image negatives (main and hires), infotext, warnings; results kept on p for postprocess."""
    hires = getattr(p, "enable_hr", False) and getattr(p, "all_hr_negative_prompts", None)
    for result in results:
        i = result.index
        user_negative = p.all_negative_prompts[i]
        p.all_negative_prompts[i] = result.negative
        if hires and result.caption:
            p.all_hr_negative_prompts[i] = compose_negative(
                p.all_hr_negative_prompts[i], result.caption, params.composition
            )
        if result.caption:
            note = chunk_note(user_negative, result.negative, _count_tokens)
            if note:
                p.comment(f"[DNP] image {i + 1}: {note}")
    p.main_negative_prompt = p.all_negative_prompts[0]

    p.extra_generation_params[infotext.SETTINGS_KEY] = infotext.settings_text(params)
    p.extra_generation_params[infotext.CAPTION_KEY] = per_image([r.caption or None for r in results])
    errors = [r.error for r in results]
    if any(errors):
        p.extra_generation_params[infotext.ERROR_KEY] = per_image(errors)
        for message in sorted({e for e in errors if e}):
            count = errors.count(message)
            if message.startswith("interrupted"):  # the WebUI stops the job: no image is made at all
                _warn(p, f"DNP stopped: {message}")
            else:
                _warn(
                    p,
                    f"{count} image(s) generated with your own negative prompt: {message}{_remedy(message)}",
                )
    for message in sorted({r.warning for r in results if r.warning}):
        _warn(p, message.removeprefix("[DNP] "))
    setattr(p, RESULTS, results)
    setattr(p, RETURN_IMAGES, params.return_dns_images)
    setattr(p, INFO, _info_entry(params, results))


def _info_entry(params: DnpParams, results: list[ImageResult]) -> dict[str, Any]:
    """The `dnp` entry of the API response's `info`: per-image captions, negatives, errors, in job order."""
    return {
        "settings": infotext.settings_text(params),
        "captions": [r.caption for r in results],
        "negatives": [r.negative for r in results],
        "errors": [r.error for r in results],
        "warnings": [r.warning for r in results],
        "from_cache": [r.from_cache for r in results],
        "dns_images_returned": 0,
    }


def per_image(values: list[Any]) -> Any:
    """An infotext value that differs per image of the job.

    A plain list would do by the WebUI's docstring, but v1.10 indexes it with the position in the *batch* while the
    images are made, so every batch would repeat the first batch's values. The callable gets the same arguments
    and tells the two cases apart by the length of the negatives list it is handed.
    """

    def value(p: Any, index: int, all_negative_prompts: list[str] | None = None, **_: Any) -> Any:
        if all_negative_prompts is not None and len(all_negative_prompts) != len(values):
            index += getattr(p, "iteration", 0) * p.batch_size
        return values[index] if 0 <= index < len(values) else None

    return value


def _remedy(message: str) -> str:
    if "interrupted" in message or "skipped" in message:
        return ""
    if "not in the Hugging Face cache" in message or "not found" in message.lower():
        return ""  # the captioner's own message already says how to get it
    if "out of memory" in message.lower():
        return " — try a smaller captioner, fewer images per batch, or --medvram"
    return " — see the console for details"


def _warn(p: Any, message: str) -> None:
    text = f"[DNP] {message}"
    log.warning(text)
    print(text)
    p.comment(text)


def _count_tokens(text: str) -> int:
    from modules import sd_hijack

    count, _ = sd_hijack.model_hijack.get_prompt_lengths(text)
    return int(count) if isinstance(count, int) else 0


def postprocess(p: Any, processed: Any, tab: str) -> None:
    """Keep the DNS images for the accordion; append them to the output when asked (after the generated ones)."""
    results: list[ImageResult] | None = getattr(p, RESULTS, None)
    if not results:
        return
    images = [r.dns_image for r in results if r.dns_image is not None]
    runtime.last_results[tab] = (images, [r.caption or "" for r in results])
    entry = dict(getattr(p, INFO, None) or {})
    if getattr(p, RETURN_IMAGES, False):
        for r in results:
            if r.dns_image is not None:
                processed.images.append(r.dns_image)
                processed.infotexts.append(f"DNS image {r.index + 1}, seed {p.all_seeds[r.index]}")
        entry["dns_images_returned"] = len(images)
    _add_info(processed, entry)


def _add_info(processed: Any, entry: dict[str, Any]) -> None:
    """Add `"dnp": entry` to the JSON that `processed.js()` gives (the API's `info`, the UI's generation info).

    Processed builds that JSON from a fixed list of attributes, so this object's class becomes a subclass whose
    `js` adds the entry. The entry belongs to this object only: a shallow copy (the X/Y/Z plot builds its grid
    result from a copy of the first cell's) reports no `dnp` rather than the first cell's."""
    processed._dnp_info = (processed, entry)
    processed.__class__ = _with_dnp_info(type(processed))


_INFO_CLASSES: dict[type, type] = {}


def _with_dnp_info(base: type) -> type:
    if getattr(base, "_adds_dnp_info", False):
        return base
    if base not in _INFO_CLASSES:

        def js(self: Any) -> str:
            text = base.js(self)
            owner, entry = getattr(self, "_dnp_info", (None, None))
            if owner is not self:
                return text
            data = json.loads(text)
            data["dnp"] = entry
            return json.dumps(data, default=lambda _: None)

        _INFO_CLASSES[base] = type(base.__name__, (base,), {"js": js, "_adds_dnp_info": True})
    return _INFO_CLASSES[base]


def on_infotext_pasted(text: str, fields: dict[str, Any]) -> None:
    """Pasted parameters of a DNP image: restore the user's own negative, so the caption is not added twice."""
    caption = fields.get(infotext.CAPTION_KEY)
    if infotext.SETTINGS_KEY not in fields or not caption:
        return
    try:
        params = infotext.params_from_infotext(fields)
    except DnpParamsError:
        return
    for key in ("Negative prompt", "Hires negative prompt"):
        if params is not None and isinstance(fields.get(key), str):
            fields[key] = user_negative_of(fields[key], str(caption), params.composition)
