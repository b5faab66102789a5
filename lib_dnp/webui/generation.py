"""What the DNP script does to a WebUI generation: run the core for the whole job and write its results into p.

`Script.process` only validates the settings; the job's DNS pass runs from the first `Script.before_process_batch`,
which the WebUI calls after every script's `process()` (so after sd-dynamic-prompts and the like have written each
image's final prompt into p.all_prompts, whatever order the scripts load in) and before any conditioning is
computed, so the main pass, the hires pass and every image's infotext see the per-image negatives.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

from lib_dnp import infotext
from lib_dnp.errors import DnpError, UnpaddableNegatives
from lib_dnp.negatives import (
    PaddingError,
    chunk_note,
    compose_negative,
    equalize_chunks,
    strip_padding,
    user_negative_of,
)
from lib_dnp.params import DnpParams, DnpParamsError, dns_scale, dns_size, dns_steps, parse_params
from lib_dnp.pipeline import ImageResult, ImageSpec, run_batch
from lib_dnp.webui import chunks, dns_key, dns_pass, platform, progress, runtime, settings, views, xyz

log = logging.getLogger("lib_dnp")

RESULTS = "_dnp_results"  # per-request results live on the processing object, never in module globals
RETURN_IMAGES = "_dnp_return_images"
INFO = "_dnp_info"
OVERRIDES = "_dnp_overrides"  # X/Y/Z values, merged into the args before validation
KEYS = "_dnp_keys"  # each image's DNS cache key, for showing cached DNS images in the accordion
PENDING = "_dnp_pending"  # the validated params, from process() until the first before_process_batch


def params_for(p: Any, args: Any) -> DnpParams:
    """The script's args (the one dict the UI and the API send) plus any X/Y/Z overrides, validated."""
    data = {**settings.request_defaults(), **args} if isinstance(args, dict) else args
    overrides = getattr(p, OVERRIDES, None)
    if overrides and isinstance(data, dict):
        data = {**data, **overrides}
    return parse_params(data)


def process(p: Any, args: Any) -> None:
    xyz.own_infotext(p, (infotext.SETTINGS_KEY, infotext.CAPTION_KEY, infotext.ERROR_KEY))
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


def run_job(p: Any, params: DnpParams, with_images: bool = False) -> list[ImageResult]:
    """DNS pass (or cache), captioning and composition for every image of the job. Never raises for a failure
    of the pass or the captioner: see each result's `error`."""
    from modules import shared

    pass_ = dns_pass.DnsPass(
        dns_steps(params, p.steps), dns_scale(params, p.cfg_scale), *dns_size(params, p.width, p.height)
    )
    specs = [
        ImageSpec(
            prompt=p.all_prompts[i], negative=p.all_negative_prompts[i], key=dns_key.dns_key(p, i, pass_)
        )
        for i in range(len(p.all_prompts))
    ]
    if with_images and not params.return_dns_images:
        params = params.copy(update={"return_dns_images": True})
    captioner = runtime.captioner_for(params) if params.mode == "auto" else None

    setattr(p, KEYS, [spec.key for spec in specs])
    stages = progress.Stages(
        shared.state, main_jobs=progress.main_jobs(p, shared.state), batch_size=p.batch_size
    )
    try:
        results = run_batch(
            specs,
            params,
            sample_dns=lambda indices: _sample_dns(p, indices, pass_),
            captioner=captioner,
            cache=runtime.cache(),
            on_stage=stages.on_stage,
            reranker=runtime.reranker_for(params),
        )
    finally:
        if captioner is not None:
            runtime.after_captioning()
        stages.main_pass(p)
    return results


def _sample_dns(p: Any, indices: list[int], pass_: dns_pass.DnsPass) -> list[Any]:
    runtime.stats["dns_images"] += len(indices)
    return dns_pass.run(p, indices, pass_, progress.DNS_JOB)


def apply_results(p: Any, params: DnpParams, results: list[ImageResult]) -> None:
    """Per-image negatives (main and hires), infotext, warnings; results kept on p for postprocess."""
    hires = bool(getattr(p, "enable_hr", False) and getattr(p, "all_hr_negative_prompts", None))
    user_negatives = list(p.all_negative_prompts)
    user_hr_negatives = list(p.all_hr_negative_prompts) if hires else []
    for result in results:
        i = result.index
        p.all_negative_prompts[i] = result.negative
        if hires and result.caption:
            p.all_hr_negative_prompts[i] = compose_negative(
                p.all_hr_negative_prompts[i], result.caption, params.composition
            )
        if result.caption:
            note = chunk_note(user_negatives[i], result.negative, _count_tokens)
            if note:
                p.comment(f"[DNP] image {i + 1}: {note}")
    try:
        padding = _pad_negatives(p, hires)
    except PaddingError as error:
        results = _without_captions(p, results, user_negatives, user_hr_negatives, error)
        padding = _pad_negatives(p, hires)  # the user's own negatives: as the WebUI would encode them
    for result in results:
        result.negative = p.all_negative_prompts[result.index]
    p.main_negative_prompt = p.all_negative_prompts[0]

    if hires:
        p.extra_generation_params[HIRES_NEGATIVE_KEY] = hires_negative
    p.extra_generation_params[infotext.SETTINGS_KEY] = infotext.settings_text(params)
    p.extra_generation_params[infotext.CAPTION_KEY] = per_image([r.caption or None for r in results])
    for key, added in padding.items():
        p.extra_generation_params[key] = per_image([n or None for n in added])
    errors = [r.error for r in results]
    if any(errors):
        p.extra_generation_params[infotext.ERROR_KEY] = per_image(errors)
        _warn_failures(p, [r.failure for r in results if r.failure is not None])
    for message in sorted({r.warning for r in results if r.warning}):
        _warn(p, message.removeprefix("[DNP] "))
    setattr(p, RESULTS, results)
    setattr(p, RETURN_IMAGES, params.return_dns_images)
    setattr(p, INFO, _info_entry(params, results))


def _pad_negatives(p: Any, hires: bool) -> dict[str, list[int]]:
    """Pad the negatives of each batch (main, and hires when on) to equal chunk counts, in place; the BREAKs
    added to each image, by infotext key. The WebUI stacks the negatives of a batch into one tensor and pads only
    the positive prompts, so captions of different lengths would crash it (README "How it works")."""
    passes = [(infotext.PADDING_KEY, p.all_negative_prompts, chunks.main_counter(p))]
    if hires:
        passes.append((infotext.HIRES_PADDING_KEY, p.all_hr_negative_prompts, chunks.hires_counter(p)))
    padded = {key: equalize_chunks(negatives, p.batch_size, counter) for key, negatives, counter in passes}
    for key, negatives, _ in passes:
        negatives[:] = [text for text, _ in padded[key]]
    return {key: [added for _, added in values] for key, values in padded.items()}


def _without_captions(
    p: Any,
    results: list[ImageResult],
    user_negatives: list[str],
    user_hr_negatives: list[str],
    error: PaddingError,
) -> list[ImageResult]:
    """Every image back to the user's own negative: one of the job's negatives cannot be padded."""
    p.all_negative_prompts[:] = user_negatives
    if user_hr_negatives:
        p.all_hr_negative_prompts[:] = user_hr_negatives
    message = f"the captions would give the negatives of a batch different lengths, and {error}"
    return [
        dataclasses.replace(
            r,
            negative=user_negatives[r.index],
            caption=None,
            failure=r.failure or UnpaddableNegatives(message),
        )
        for r in results
    ]


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


def job_index(p: Any, index: int, all_negative_prompts: list[str] | None, job_length: int) -> int:
    """The job index of the image an infotext callable is asked about.

    The WebUI v1.10 calls `create_infotext` with the position in the *batch* (and that batch's negatives) while
    the images are made, and with the job index (and the job's negatives) for the job's own infotext list; the
    length of the negatives list it hands over tells the two apart."""
    if all_negative_prompts is not None and len(all_negative_prompts) != job_length:
        index += getattr(p, "iteration", 0) * p.batch_size
    return index


def per_image(values: list[Any]) -> Any:
    """An infotext value that differs per image of the job.

    A plain list would do by the WebUI's docstring, but v1.10 indexes it with the position in the batch while the
    images are made, so every batch would repeat the first batch's values (see job_index).
    """

    def value(p: Any, index: int, all_negative_prompts: list[str] | None = None, **_: Any) -> Any:
        index = job_index(p, index, all_negative_prompts, len(values))
        return values[index] if 0 <= index < len(values) else None

    return value


HIRES_NEGATIVE_KEY = "Hires negative prompt"


def hires_negative(
    p: Any, index: int, negative_prompt: str, all_negative_prompts: list[str] | None = None, **_: Any
) -> str | None:
    """The infotext's hires negative, in place of the WebUI's own (`StableDiffusionProcessingTxt2Img.init`).

    The WebUI's reads `p.all_hr_negative_prompts[index]` with the batch position, so every image of a job's second
    and later batches reported the first batch's hires negative. Without DNP those are all the same text; with
    DNP each image's holds its own caption, so the report was another image's negative, while the hires pass used
    the right one (parse_extra_network_prompts slices by p.iteration). As the WebUI's: None when it equals the
    image's negative."""
    negatives = p.all_hr_negative_prompts
    index = job_index(p, index, all_negative_prompts, len(negatives))
    if not 0 <= index < len(negatives):
        return None
    return negatives[index] if negatives[index] != negative_prompt else None


def _warn_failures(p: Any, failures: list[DnpError]) -> None:
    """One warning per distinct failure (the same error object serves every image of a failed pass)."""
    by_message: dict[str, list[DnpError]] = {}
    for failure in failures:
        by_message.setdefault(failure.message, []).append(failure)
    for message, same in sorted(by_message.items()):
        if same[0].stops_job:  # Interrupt: the WebUI stops the job, no image is made at all
            _warn(p, f"DNP stopped: {message}")
        else:
            _warn(
                p,
                f"{len(same)} image(s) generated with your own negative prompt: {message}{_remedy(same[0])}",
            )


def _remedy(failure: DnpError) -> str:
    return f" — {failure.remedy}" if failure.remedy else ""


def _warn(p: Any, message: str) -> None:
    text = f"[DNP] {message}"
    log.warning(text)
    print(text)
    p.comment(text)


def _count_tokens(text: str) -> int:
    """CLIP tokens of `text` as the WebUI counts them (a chunk closed by BREAK counts 75)."""
    _, count = platform.prompt_chunker().process_texts([text])
    return int(count)


def postprocess(p: Any, processed: Any, tab: str) -> None:
    """Keep the DNS images for the accordion; append them to the output when asked (after the generated ones)."""
    results: list[ImageResult] | None = getattr(p, RESULTS, None)
    if not results:
        return
    images = [r.dns_image for r in results if r.dns_image is not None]
    entry = dict(getattr(p, INFO, None) or {})
    if not getattr(p, "is_api", False):  # a browser session's generation: its accordion shows the DNS images
        entry["view"] = views.tickets.keep(
            views.View(_shown_images(p, results), [r.caption or "" for r in results])
        )
    if getattr(p, RETURN_IMAGES, False):
        # Each at the position of its infotext: the UI and the API pair images with infotexts by position, and the
        # WebUI (img2img's returned masks) or a script whose postprocess ran before ours (ControlNet's detected
        # maps) may have added images without one; the DNS images would take their neighbours' infotexts. Those
        # images get an empty one (for an index past the list the UI kept the previous image's text on show:
        # modules/ui_common.py update_generation_info).
        processed.infotexts.extend([""] * (len(processed.images) - len(processed.infotexts)))
        for r in results:
            if r.dns_image is not None:
                processed.images.append(r.dns_image)
                processed.infotexts.append(f"DNS image {r.index + 1}, seed {p.all_seeds[r.index]}")
        entry["dns_images_returned"] = len(images)
    _add_info(processed, entry)


def _shown_images(p: Any, results: list[ImageResult]) -> list[Any]:
    """The DNS image of every image that has one: made by this job, or the cached one (a cache hit on the
    caption needs no image, but the user still wants to see what the caption describes)."""
    keys = getattr(p, KEYS, None) or []
    cache = runtime.cache()
    images = []
    for r in results:
        image = r.dns_image
        if image is None and r.from_cache and r.index < len(keys):
            image = cache.image(keys[r.index])
        if image is not None:
            images.append(image)
    return images


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
    if infotext.SETTINGS_KEY not in fields:
        return
    for key, padding_key in (
        ("Negative prompt", infotext.PADDING_KEY),
        ("Hires negative prompt", infotext.HIRES_PADDING_KEY),
    ):
        if isinstance(fields.get(key), str) and str(fields.get(padding_key, "")).isdigit():
            fields[key] = strip_padding(fields[key], int(fields[padding_key]))
    caption = fields.get(infotext.CAPTION_KEY)
    if not caption:
        return
    try:
        params = infotext.params_from_infotext(fields)
    except DnpParamsError:
        return
    for key in ("Negative prompt", "Hires negative prompt"):
        if params is not None and isinstance(fields.get(key), str):
            fields[key] = user_negative_of(fields[key], str(caption), params.composition)
