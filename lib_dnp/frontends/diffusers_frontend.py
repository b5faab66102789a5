"""DNP with a diffusers pipeline (StableDiffusionPipeline, StableDiffusionXLPipeline, any text-to-image pipeline
with `negative_prompt` and classifier-free guidance).

One generation, for a batch of seeds:

1. plain pass (optional): the user's prompt and negative, for comparison;
2. DNS pass: eq. 19 at scale s, at the same seeds, through the pipeline itself (see `sample_dns`);
3. captioning of each DNS image, and composition of each image's negative: `lib_dnp.pipeline.run_batch`;
4. DNP pass: the user's prompt with each image's own negative, at the same seeds.

Each image gets its own CPU `torch.Generator` seeded with its seed, so its starting noise depends on its seed alone
(not on its place in the batch nor on the device), exactly as a plain pipeline call with that generator.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lib_dnp.cache import DnsCache, DnsKey, fingerprint
from lib_dnp.frontends.settings import DEFAULT_CFG, DEFAULT_STEPS
from lib_dnp.guidance import swapped_cfg_scale
from lib_dnp.params import DnpParams, dns_scale, dns_size, dns_steps
from lib_dnp.pipeline import Captioner, ImageSpec, OnStage, Reranker, run_batch

if TYPE_CHECKING:
    import torch
    from PIL import Image

log = logging.getLogger("lib_dnp")


@dataclass
class DnpGeneration:
    """What one `generate` call made; lists are in seed order. `plain_images` is empty when the plain pass was
    not asked for; `dns_images[i]`, `captions[i]` are None and `errors[i]` says why when DNS failed for image i
    (its negative is then the user's own)."""

    seeds: list[int]
    prompts: list[str]
    user_negative: str
    dns_steps: int
    dns_scale: float
    dns_size: tuple[int, int] = (0, 0)  # width, height of the DNS images
    plain_images: list[Image.Image] = field(default_factory=list)
    dns_images: list[Image.Image | None] = field(default_factory=list)
    dnp_images: list[Image.Image] = field(default_factory=list)
    captions: list[str | None] = field(default_factory=list)
    negatives: list[str] = field(default_factory=list)
    errors: list[str | None] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per pass: plain, dns, caption, dnp


def generators(seeds: Sequence[int]) -> list[torch.Generator]:
    """One CPU generator per image, seeded with its seed (CPU noise is the same on every device)."""
    import torch

    return [torch.Generator(device="cpu").manual_seed(int(seed)) for seed in seeds]


def check_pipeline(pipe: Any) -> None:
    """Refuse pipelines that cannot express eq. 19: it needs a negative prompt and a guidance scale."""
    parameters = inspect.signature(pipe.__call__).parameters
    missing = [name for name in ("negative_prompt", "guidance_scale", "generator") if name not in parameters]
    if missing:
        raise TypeError(
            f"[DNP] expected a diffusers text-to-image pipeline with {', '.join(missing)} (e.g. "
            f"StableDiffusionPipeline or StableDiffusionXLPipeline), but got {type(pipe).__name__}"
        )


def run_pipeline(
    pipe: Any,
    prompts: Sequence[str],
    negatives: Sequence[str],
    seeds: Sequence[int],
    *,
    steps: int,
    guidance_scale: float,
    width: int | None = None,
    height: int | None = None,
    label: str = "",
    progress: bool = True,
) -> list[Image.Image]:
    """One batched pipeline call, one image per seed, with the pipeline's progress bar labelled `label`."""
    saved = dict(getattr(pipe, "_progress_bar_config", {}))
    pipe.set_progress_bar_config(**{**saved, "desc": label or None, "disable": not progress})
    try:
        output = pipe(
            prompt=list(prompts), negative_prompt=list(negatives), num_inference_steps=steps,
            guidance_scale=guidance_scale, generator=generators(seeds), width=width, height=height,
            num_images_per_prompt=1, output_type="pil",
        )  # fmt: skip
    finally:
        pipe._progress_bar_config = saved
    return list(output.images)


def sample_dns(
    pipe: Any,
    prompts: Sequence[str],
    seeds: Sequence[int],
    *,
    steps: int,
    scale: float,
    width: int | None = None,
    height: int | None = None,
    progress: bool = True,
) -> list[Image.Image]:
    """Diffusion-negative images (eq. 19 at scale `scale`), one per prompt and seed.

    diffusers computes CFG as `eps_u + g · (eps_c − eps_u)` with eps_c from `prompt` and eps_u from
    `negative_prompt`. With prompt "" and negative prompt p (the paper's eq. 20) at g = s + 1 that is

        eps_p + (s + 1) · (eps_empty − eps_p) = eps_empty + s · (eps_empty − eps_p),

    which is eq. 19 (`lib_dnp.guidance.dns`) at s. Both prompts go through the same text encoder call path (the
    negative is padded to the prompt's length, which for CLIP is the fixed 77), so eps_p is exactly the prompt's
    prediction. The "empty" here is the encoded empty prompt, also on SDXL: diffusers zeroes only an empty
    *negative* prompt (`force_zeros_for_empty_prompt`), and here "" is the positive one.
    """
    if scale < 0:
        raise ValueError(f"[DNP] expected a DNS scale >= 0, but got {scale}")
    return run_pipeline(
        pipe, [""] * len(prompts), prompts, seeds, steps=steps, guidance_scale=swapped_cfg_scale(scale),
        width=width, height=height, label="DNS", progress=progress,
    )  # fmt: skip


def model_id_of(pipe: Any) -> str:
    return str(
        getattr(pipe, "name_or_path", None)
        or getattr(pipe.config, "_name_or_path", "")
        or type(pipe).__name__
    )


def dns_key(pipe: Any, prompt: str, seed: int, steps: int, width: int, height: int, scale: float) -> DnsKey:
    """What determines one DNS image made by `sample_dns` with this pipeline."""
    unet = getattr(pipe, "unet", None)
    dtype = str(getattr(unet, "dtype", ""))
    return DnsKey(
        model=model_id_of(pipe), prompt=prompt, seed=int(seed), subseed=0, subseed_strength=0.0,
        sampler=type(pipe.scheduler).__name__, scheduler=fingerprint(dict(pipe.scheduler.config)), steps=steps,
        width=width, height=height, scale=float(scale), extra=f"{type(pipe).__name__}|{dtype}",
    )  # fmt: skip


def default_size(pipe: Any) -> tuple[int, int]:
    """The pipeline's default (width, height): the UNet's sample size times the VAE's scale factor."""
    size = pipe.unet.config.sample_size * pipe.vae_scale_factor
    return (size, size) if isinstance(size, int) else (size[1], size[0])


class _CaptionStage:
    """A captioner seen through a labelled tqdm bar (one batched call: the bar moves once) and a timer."""

    def __init__(self, captioner: Captioner, timings: dict[str, float], progress: bool):
        self.captioner, self.timings, self.progress = captioner, timings, progress

    def settings_fingerprint(self) -> str:
        return self.captioner.settings_fingerprint()

    def caption(self, images: Sequence[Any]) -> list[str]:
        from tqdm.auto import tqdm

        with (
            _timed(self.timings, "caption"),
            tqdm(total=len(images), desc="captioning", disable=not self.progress) as bar,
        ):
            captions = self.captioner.caption(images)
            bar.update(len(images))
        return captions

    def caption_candidates(self, images: Sequence[Any], count: int) -> list[list[str]]:
        with _timed(self.timings, "caption"):
            return self.captioner.caption_candidates(images, count)


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - start


def generate(
    pipe: Any,
    prompt: str | Sequence[str],
    seeds: Sequence[int],
    *,
    negative: str = "",
    steps: int = DEFAULT_STEPS,
    cfg: float = DEFAULT_CFG,
    width: int | None = None,
    height: int | None = None,
    params: DnpParams,
    captioner: Captioner | None,
    cache: DnsCache | None = None,
    plain: bool = True,
    progress: bool = True,
    on_stage: OnStage | None = None,
    reranker: Reranker | None = None,
) -> DnpGeneration:
    """Plain, DNS, captions and DNP images for one prompt (or one prompt per seed) at `seeds`.

    With `params.enabled` False only the plain pass runs (`dnp_images` is empty). Failures of the DNS pass or of
    the captioner do not raise: they are in `errors`, and those images keep the user's negative. `reranker`
    picks among caption candidates when `params.rerank` is on (`lib_dnp.rerank.CaptionReranker`).
    """
    check_pipeline(pipe)
    seeds = [int(seed) for seed in seeds]
    prompts = [prompt] * len(seeds) if isinstance(prompt, str) else list(prompt)
    if len(prompts) != len(seeds) or not seeds:
        raise ValueError(
            f"[DNP] expected one prompt or one per seed, but got {len(prompts)} for {len(seeds)} seeds"
        )
    if width is None or height is None:
        width, height = (width or default_size(pipe)[0]), (height or default_size(pipe)[1])
    result = DnpGeneration(
        seeds=seeds, prompts=prompts, user_negative=negative, dns_steps=dns_steps(params, steps),
        dns_scale=dns_scale(params, cfg), dns_size=dns_size(params, width, height),
    )  # fmt: skip
    main = {"steps": steps, "guidance_scale": cfg, "width": width, "height": height, "progress": progress}
    if cfg <= 1:
        log.warning(
            "[DNP] CFG scale %s <= 1: diffusers then ignores negative prompts, so DNP changes nothing", cfg
        )

    if plain or not params.enabled:
        with _timed(result.timings, "plain"):
            result.plain_images = run_pipeline(
                pipe, prompts, [negative] * len(seeds), seeds, label="plain", **main
            )
    if not params.enabled:
        return result

    images = [
        ImageSpec(p, negative, dns_key(pipe, p, s, result.dns_steps, *result.dns_size, result.dns_scale))
        for p, s in zip(prompts, seeds)
    ]

    def sample(indices: Sequence[int]) -> list[Image.Image]:
        with _timed(result.timings, "dns"):
            return sample_dns(
                pipe, [prompts[i] for i in indices], [seeds[i] for i in indices], steps=result.dns_steps,
                scale=result.dns_scale, width=result.dns_size[0], height=result.dns_size[1], progress=progress,
            )  # fmt: skip

    stage = None if captioner is None else _CaptionStage(captioner, result.timings, progress)
    outcomes = run_batch(images, params, sample, stage, cache, on_stage, reranker)
    result.dns_images = [outcome.dns_image for outcome in outcomes]
    result.captions = [outcome.caption for outcome in outcomes]
    result.negatives = [outcome.negative for outcome in outcomes]
    result.errors = [outcome.error for outcome in outcomes]

    # An image whose negative did not change would come out the same as its plain image: reuse it.
    redo = [i for i, text in enumerate(result.negatives) if not result.plain_images or text != negative]
    dnp_images: list[Any] = list(result.plain_images) or [None] * len(seeds)
    if redo:
        if on_stage:
            on_stage("dnp", len(redo))
        with _timed(result.timings, "dnp"):
            redone = run_pipeline(
                pipe, [prompts[i] for i in redo], [result.negatives[i] for i in redo], [seeds[i] for i in redo],
                label="DNP", **main,
            )  # fmt: skip
        for i, image in zip(redo, redone):
            dnp_images[i] = image
    result.dnp_images = dnp_images
    return result
