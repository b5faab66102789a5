"""The DNS pass inside the WebUI: a nested txt2img through the WebUI's own sampler, with eq. 19 guidance.

The nested processing object gets the user's prompt as its prompt and "" as its negative, at the same seeds,
subseeds, sampler, scheduler and size. `on_cfg_denoiser` (registered once by the script, a no-op for every other
generation) swaps its cond and uncond, and its CFG scale is s + 1, which makes the WebUI's CFG compute
eq. 19 at scale s (see lib_dnp.guidance). Keeping the prompt as the prompt, rather than passing it as a negative
(eq. 20), keeps its LoRA and other extra-network tags active, since the WebUI only parses those in prompts.

"Empty" is what the WebUI encodes for an empty negative prompt: CLIP("") on SD1.x/SD2, and zero embeddings on
SDXL (`force_zero_negative_prompt`), which is how SDXL was trained to be unconditional.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lib_dnp.guidance import flatten_composable, is_composable, swap_conds, swapped_cfg_scale
from lib_dnp.pipeline import DnsInterrupted
from lib_dnp.webui import peers

MARK = "_dnp_dns_pass"  # set on the nested processing object; the callback acts only on that one
# where Interrupt or Skip was pressed, as the per-image error says it ("skipped during the DNS pass")
STAGE_DNS = "during the DNS pass"
STAGE_CAPTIONING = "during captioning"


def on_cfg_denoiser(params: Any) -> None:
    """script_callbacks.on_cfg_denoiser: swap cond and uncond while a DNS pass samples."""
    p = getattr(params.denoiser, "p", None)
    if not getattr(p, MARK, False):
        return
    try:
        params.text_cond, params.text_uncond = swap_conds(params.text_cond, params.text_uncond)
        p._dnp_swaps += 1
    except (
        Exception
    ) as error:  # the WebUI would only log it and sample plain CFG: remember it and fail the pass
        p._dnp_swap_error = error


@dataclass(frozen=True)
class DnsPass:
    """How the DNS pass samples: its own step count, eq. 19 scale s, and size."""

    steps: int
    scale: float
    width: int
    height: int


def dns_prompt(prompt: str) -> str:
    """One prompt per image for the DNS pass (composable AND prompts are flattened; see guidance)."""
    return flatten_composable(prompt) if is_composable(prompt) else prompt


def run(p: Any, indices: Sequence[int], pass_: DnsPass, label: str) -> list[Any]:
    """Sample DNS images for `indices` of the job (positions in p.all_prompts), grouped by the job's batches.

    Raises DnsInterrupted when the user interrupts or skips; the caller keeps the user's negatives then.
    """
    from modules import shared

    images: list[Any] = []
    batches = _group_by_batch(indices, p.batch_size)
    for number, batch in enumerate(batches, start=1):
        if shared.state.stopping_generation:
            raise DnsInterrupted(f"interrupted {STAGE_DNS}")
        check_stop(STAGE_DNS)
        shared.state.job = f"{label} {number}/{len(batches)}" if len(batches) > 1 else label
        images.extend(_sample(p, batch, pass_))
        check_stop(STAGE_DNS)
    return images


def check_stop(stage: str) -> None:
    """Raise DnsInterrupted when Interrupt or Skip was pressed (`stage` goes into the message).

    Interrupt stays set, so the WebUI stops the whole job as it would without DNP. Skip is consumed here: it
    ends DNP's work only, and the main pass runs with the user's own negative prompt.
    """
    from modules import shared

    if shared.state.interrupted:
        raise DnsInterrupted(f"interrupted {stage}")
    if shared.state.skipped:
        shared.state.skipped = False
        raise DnsInterrupted(f"skipped {stage}")


def _group_by_batch(indices: Sequence[int], batch_size: int) -> list[list[int]]:
    groups: dict[int, list[int]] = {}
    for i in indices:
        groups.setdefault(i // batch_size, []).append(i)
    return [groups[key] for key in sorted(groups)]


def _sample(p: Any, batch: list[int], pass_: DnsPass) -> list[Any]:
    from modules import processing, sd_models, shared

    nested = processing.StableDiffusionProcessingTxt2Img(
        sd_model=shared.sd_model,
        prompt=[dns_prompt(p.all_prompts[i]) for i in batch],
        negative_prompt=[""] * len(batch),
        styles=[],
        seed=[p.all_seeds[i] for i in batch],
        subseed=[p.all_subseeds[i] for i in batch],
        subseed_strength=p.subseed_strength,
        seed_resize_from_h=p.seed_resize_from_h,
        seed_resize_from_w=p.seed_resize_from_w,
        sampler_name=p.sampler_name,
        scheduler=getattr(p, "scheduler", None),
        steps=pass_.steps,
        cfg_scale=swapped_cfg_scale(pass_.scale),
        width=pass_.width,
        height=pass_.height,
        batch_size=len(batch),
        n_iter=1,
        restore_faces=False,
        tiling=p.tiling,
        do_not_save_samples=True,
        do_not_save_grid=True,
        override_settings={},
    )
    nested.scripts = None  # no script of any extension runs inside the DNS pass
    nested.s_min_uncond = 0.0  # NGMS would drop the uncond half, which holds the prompt after the swap
    setattr(nested, MARK, True)
    nested._dnp_swaps = 0
    nested._dnp_swap_error = None
    try:
        with peers.controlnet_paused(
            shared.sd_model
        ):  # a control image belongs to the main image (see peers)
            processed = processing.process_images(nested)
    finally:
        nested.close()
        # process_images resets token merging when it returns; the outer pass set it up already.
        sd_models.apply_token_merging(p.sd_model, p.get_token_merging_ratio())
    if nested._dnp_swap_error is not None:
        raise RuntimeError(f"[DNP] DNS guidance failed: {nested._dnp_swap_error}") from nested._dnp_swap_error
    if nested._dnp_swaps == 0 and not shared.state.interrupted and not shared.state.skipped:
        raise RuntimeError(
            "[DNP] the DNS guidance never ran: the sampler did not call the CFG-denoiser callback "
            "(an extension that replaces the sampler?)"
        )
    return list(processed.images[: len(batch)])
