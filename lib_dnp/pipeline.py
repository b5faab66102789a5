"""Orchestration of one batch: DNS pass (or cache), captioning, negative composition.

The front end (WebUI script, diffusers CLI, benchmark) supplies how to sample DNS images; this module decides
what to sample, what to caption and what each image's negative becomes. Nothing here raises because a pass or a
captioner failed: each image's result carries the error (a `lib_dnp.errors.DnpError`, whose type says what
happened), and its negative stays the user's own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from lib_dnp.cache import DnsCache, DnsKey
from lib_dnp.errors import BadSettings, DnpError, NoCaptioner, UnexpectedError, as_dnp_error
from lib_dnp.negatives import compose_negative
from lib_dnp.params import DnpParams

log = logging.getLogger("lib_dnp")


class Captioner(Protocol):
    def caption(self, images: Sequence[Any]) -> list[str]: ...

    def settings_fingerprint(self) -> str: ...

    # Only called when re-ranking is on (`params.rerank`); see `HFCaptioner.caption_candidates`.
    def caption_candidates(self, images: Sequence[Any], count: int) -> list[list[str]]: ...


class Reranker(Protocol):
    """Picks one caption of each image's candidates (`lib_dnp.rerank.CaptionReranker`)."""

    name: str  # part of the caption cache key: another CLIP model may pick another caption

    def choose(
        self, mode: str, images: Sequence[Any], prompts: Sequence[str], candidates: Sequence[Sequence[str]]
    ) -> list[int]: ...


@dataclass(frozen=True)
class ImageSpec:
    """One image of the batch: its prompt, the user's own negative, and what determines its DNS image."""

    prompt: str
    negative: str
    key: DnsKey


@dataclass
class ImageResult:
    index: int
    negative: str  # composed with the caption, or the user's own when `failure` is set
    caption: str | None = None
    dns_image: Any | None = None
    failure: DnpError | None = None
    from_cache: bool = False
    # DNP applied, but not quite as asked (re-ranking fell back to the first caption).
    warning: str | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def error(self) -> str | None:
        """The failure's user message (infotext, API `info`), or None."""
        return None if self.failure is None else self.failure.message


# sample_dns(indices) → one DNS image per index, in that order. It may raise `lib_dnp.errors.Stopped`.
SampleDns = Callable[[Sequence[int]], Sequence[Any]]
# on_stage(stage, count): "dns" or "caption", with the number of images about to go through it.
OnStage = Callable[[str, int], None]


def manual_captions(params: DnpParams, count: int) -> list[str]:
    """Manual mode: one caption for every image, or one per image. Raises BadSettings otherwise."""
    captions = params.captions
    if len(captions) == 1:
        return captions * count
    if len(captions) == count:
        return list(captions)
    raise BadSettings(
        f"[DNP] captions: expected 1 caption or {count} (one per image), but got {len(captions)}",
        remedy="give one caption, or one per image of the job",
    )


def run_batch(
    images: Sequence[ImageSpec],
    params: DnpParams,
    sample_dns: SampleDns,
    captioner: Captioner | None,
    cache: DnsCache | None = None,
    on_stage: OnStage | None = None,
    reranker: Reranker | None = None,
) -> list[ImageResult]:
    """Run DNP for one batch and return one result per image, in order. With `params.rerank` on, the captioner
    proposes candidates and `reranker` picks one per image (`_rerank_captions`)."""
    results = [ImageResult(index=i, negative=spec.negative) for i, spec in enumerate(images)]
    cache = cache if params.cache else None
    if params.mode == "manual":
        return _manual(images, params, sample_dns, cache, results, on_stage)

    if captioner is None:
        return _fail(results, range(len(images)), NoCaptioner("[DNP] no captioner is configured"))
    captioner_id = captioner.settings_fingerprint() + rerank_fingerprint(params, reranker)
    captions: dict[int, str] = {}
    if cache is not None:
        for i, spec in enumerate(images):
            cached = cache.caption(spec.key, captioner_id)
            if cached is not None:
                captions[i] = cached
                results[i].from_cache = True
    # DNS images are needed for every image still without a caption, and for all when the caller wants them.
    need_image = [i for i in range(len(images)) if i not in captions or params.return_dns_images]
    _dns_images(images, need_image, sample_dns, cache, results, on_stage)

    to_caption = [i for i in range(len(images)) if i not in captions and results[i].dns_image is not None]
    if to_caption:
        try:
            if on_stage:
                on_stage("caption", len(to_caption))
            dns_images = [results[i].dns_image for i in to_caption]
            if params.rerank == "off":
                texts, fallback = captioner.caption(dns_images), None
            else:
                prompts = [images[i].prompt for i in to_caption]
                texts, fallback = _rerank_captions(captioner, reranker, params, dns_images, prompts)
            if len(texts) != len(to_caption):
                raise UnexpectedError(
                    f"[DNP] captioner returned {len(texts)} captions for {len(to_caption)} images"
                )
        except Exception as error:  # the image must survive any captioner failure
            log.warning("[DNP] captioning failed: %s", error)
            _fail(results, to_caption, as_dnp_error(error))
        else:
            for i, text in zip(to_caption, texts):
                captions[i] = text
                results[i].warning = fallback
                if cache is not None and fallback is None:  # a fallback caption is not what the key says
                    cache.put_caption(images[i].key, captioner_id, text)

    for i, text in captions.items():
        results[i].caption = text
        results[i].negative = compose_negative(images[i].negative, text, params.composition)
    return results


def rerank_fingerprint(params: DnpParams, reranker: Reranker | None) -> str:
    """What re-ranking adds to the captioner's cache key: a cached caption never comes from another setting."""
    if params.rerank == "off":
        return ""
    return f"|rerank={params.rerank}|candidates={params.candidates}|clip={getattr(reranker, 'name', None)}"


def _rerank_captions(
    captioner: Captioner,
    reranker: Reranker | None,
    params: DnpParams,
    dns_images: Sequence[Any],
    prompts: Sequence[str],
) -> tuple[list[str], str | None]:
    """The re-rank step: candidates from the captioner, one picked per image by CLIP. Returns (captions,
    warning). A captioner failure raises (as for plain captions); a re-ranker failure (no CLIP model, a CLIP that
    cannot load) keeps each image's first candidate, the beam-search caption, and says so in the warning."""
    candidates = captioner.caption_candidates(dns_images, params.candidates)
    if len(candidates) != len(dns_images) or not all(candidates):
        raise UnexpectedError(
            f"[DNP] captioner returned candidates for {len(candidates)} of {len(dns_images)} images"
        )
    try:
        if reranker is None:
            raise RuntimeError("no CLIP model is set up for re-ranking")
        picks = list(reranker.choose(params.rerank, dns_images, prompts, candidates))
        if len(picks) != len(candidates):
            raise RuntimeError(f"re-ranker picked {len(picks)} captions for {len(candidates)} images")
        return [group[pick] for group, pick in zip(candidates, picks)], None
    except Exception as error:
        warning = (
            f"[DNP] caption re-ranking failed, used the captioner's first caption: {as_dnp_error(error)}"
        )
        log.warning(warning)
        return [group[0] for group in candidates], warning


def _dns_images(
    images: Sequence[ImageSpec],
    indices: Sequence[int],
    sample_dns: SampleDns,
    cache: DnsCache | None,
    results: list[ImageResult],
    on_stage: OnStage | None,
) -> None:
    """Fill `results[i].dns_image` for `indices`, from the cache or one sampling call; failures go in `error`."""
    missing = []
    for i in indices:
        cached = cache.image(images[i].key) if cache is not None else None
        if cached is not None:
            results[i].dns_image = cached
        else:
            missing.append(i)
    if not missing:
        return
    try:
        if on_stage:
            on_stage("dns", len(missing))
        sampled = list(sample_dns(missing))
        if len(sampled) != len(missing):
            raise UnexpectedError(f"[DNP] DNS pass returned {len(sampled)} images for {len(missing)}")
    except Exception as error:
        log.warning("[DNP] DNS pass failed: %s", error)
        _fail(results, missing, as_dnp_error(error))
        return
    for i, image in zip(missing, sampled):
        results[i].dns_image = image
        if cache is not None:
            cache.put_image(images[i].key, image)


def _manual(
    images: Sequence[ImageSpec],
    params: DnpParams,
    sample_dns: SampleDns,
    cache: DnsCache | None,
    results: list[ImageResult],
    on_stage: OnStage | None,
) -> list[ImageResult]:
    try:
        captions = manual_captions(params, len(images))
    except BadSettings as error:
        return _fail(results, range(len(images)), error)
    if params.return_dns_images:
        _dns_images(images, range(len(images)), sample_dns, cache, results, on_stage)
    for result, spec, text in zip(results, images, captions):
        result.failure = None  # a failed preview does not matter: the user's captions are what counts
        result.caption = text
        result.negative = compose_negative(spec.negative, text, params.composition)
    return results


def _fail(results: list[ImageResult], indices: Sequence[int], failure: DnpError) -> list[ImageResult]:
    for i in indices:
        results[i].failure = failure
        results[i].caption = None
    return results
