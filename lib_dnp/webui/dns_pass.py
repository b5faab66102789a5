"""The DNS pass inside the WebUI: a nested txt2img through the WebUI's own sampler, with eq. 19 guidance.

The nested processing object gets the user's prompt as its prompt and "" as its negative, at the same seeds,
subseeds, sampler, scheduler and size. `on_cfg_denoiser` (registered once by the script, a no-op for every other
generation) swaps its cond and uncond, and its CFG scale is s + 1, which makes the WebUI's CFG compute
eq. 19 at scale s (see lib_dnp.guidance). Keeping the prompt as the prompt, rather than passing it as a negative
(eq. 20), keeps its LoRA and other extra-network tags active, since the WebUI only parses those in prompts.

The WebUI's options must not bend eq. 19 in the nested pass; `NEUTRAL_OPTIONS` and the comments in `_sample`
say, option by option, what each would do there and why it is neutralised or harmless.

"Empty" is what the WebUI encodes for an empty negative prompt: CLIP("") on SD1.x/SD2, and zero embeddings on
SDXL (`force_zero_negative_prompt`), which is how SDXL was trained to be unconditional.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from lib_dnp.errors import DnsGuidanceFailed, Interrupted, Skipped
from lib_dnp.guidance import flatten_composable, is_composable, swap_conds, swapped_cfg_scale
from lib_dnp.webui import peers

MARK = "_dnp_dns_pass"  # set on the nested processing object; the callback acts only on that one
# where Interrupt or Skip was pressed, as the per-image error says it ("skipped during the DNS pass")
STAGE_DNS = "during the DNS pass"
STAGE_CAPTIONING = "during captioning"

# WebUI options that change which branch the CFG denoiser evaluates, or how it pads them, and the value that
# keeps the nested pass eq. 19 at every step (modules/sd_samplers_cfg_denoiser.py, CFGDenoiser.forward).
NEUTRAL_OPTIONS: dict[str, Any] = {
    # "Ignore negative prompt during early sampling": evaluates the cond branch only and uses it unguided. After
    # the swap the skipped uncond branch holds the prompt, so those steps would sample eps_empty, not eq. 19.
    "skip_early_cond": 0.0,
    # Pads the shorter of cond and uncond with empty-prompt chunks: a prompt over 75 tokens would turn the
    # one-chunk empty cond into two chunks, which is not the empty prompt the WebUI encodes.
    "pad_cond_uncond": False,
    # The v0 padding repeats the uncond's last vector or *cuts* the uncond to the cond's length: after the swap
    # that cuts a long prompt down to its first 75 tokens.
    "pad_cond_uncond_v0": False,
}
# Options of the same code that need nothing:
# - NGMS (`s_min_uncond`, also a request field) drops the uncond branch below a sigma: the nested object's own
#   `s_min_uncond` is 0, which the sampler takes over the option; `s_min_uncond_all` acts only when it is > 0.
# - `batch_cond_uncond` only batches the same two evaluations together or apart (the same result up to float
#   rounding); forcing it on could run a low-memory user out of memory.
# - CFG scale 1: A1111 v1.10.1 has no shortcut for it (it evaluates both branches at every scale). The nested
#   scale is s + 1 >= 2 when dns_scale is set (its lower bound is 1); it follows the main CFG scale otherwise, and
#   only a main CFG of 0 makes it 1, where Forge's CFG-1 shortcut drops the uncond (the prompt, after the swap)
#   and samples eps_empty, which is eq. 19 at s = 0.
# - `live_preview_content` picks only what the live preview shows.
# - image CFG and the refiner act for edit models and for a refiner checkpoint, and the nested object has neither.
# The sampler's own options (eta, sigma churn/noise, schedules, ENSD, RNG source, ...) shape the DNS image just as
# they shape a plain generation, so the oracle "plain WebUI with prompt "", negative p, CFG s + 1" includes them;
# they are in the cache key (dns_key.py).

# Request fields the nested pass takes from the outer one (the WebUI fills them from the options when the request
# leaves them unset), so the DNS pass samples as a plain generation of the same request would.
COPIED_FIELDS = ("eta", "s_churn", "s_tmin", "s_tmax", "s_noise", "token_merging_ratio")


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

    Raises Interrupted or Skipped when the user presses Interrupt or Skip; the caller keeps the user's negatives then.
    """
    from modules import shared

    images: list[Any] = []
    batches = _group_by_batch(indices, p.batch_size)
    for number, batch in enumerate(batches, start=1):
        if shared.state.stopping_generation:
            raise Interrupted(STAGE_DNS)
        check_stop(STAGE_DNS)
        if len(batches) > 1:
            shared.state.job = shared.state.textinfo = f"{label}: batch {number} of {len(batches)}"
        else:
            shared.state.job = label
        images.extend(_sample(p, batch, pass_))
        check_stop(STAGE_DNS)
    return images


def check_stop(stage: str) -> None:
    """Raise Interrupted or Skipped when Interrupt or Skip was pressed (`stage` goes into the message).

    Interrupt stays set, so the WebUI stops the whole job as it would without DNP. Skip is consumed here: it
    ends DNP's work only, and the main pass runs with the user's own negative prompt.
    """
    from modules import shared

    if shared.state.interrupted:
        raise Interrupted(stage)
    if shared.state.skipped:
        shared.state.skipped = False
        raise Skipped(stage)


def _group_by_batch(indices: Sequence[int], batch_size: int) -> list[list[int]]:
    groups: dict[int, list[int]] = {}
    for i in indices:
        groups.setdefault(i // batch_size, []).append(i)
    return [groups[key] for key in sorted(groups)]


@contextmanager
def _neutral_options(opts: Any) -> Iterator[None]:
    """NEUTRAL_OPTIONS in effect while the nested pass samples; the user's values back afterwards.

    Written into `opts.data` rather than through the nested object's override_settings: those go through
    `opts.set`, which --freeze-settings (and --freeze-settings-in-sections) turn into an AssertionError.
    """
    names = [name for name in NEUTRAL_OPTIONS if name in opts.data_labels]
    saved = {name: opts.data[name] for name in names if name in opts.data}
    opts.data.update({name: NEUTRAL_OPTIONS[name] for name in names})
    try:
        yield
    finally:
        for name in names:
            if name in saved:
                opts.data[name] = saved[name]
            else:
                opts.data.pop(name, None)


@contextmanager
def _global_rng_kept() -> Iterator[None]:
    """Torch's global random generators (CPU and CUDA) and the WebUI's NV generator as they were before.

    A generation seeds the global generator as a side effect (modules/rng.py: `ImageRNG.first` calls
    `manual_seed(seed)` for every image) and leaves it so for whatever comes next. img2img's set-up (`p.init`)
    draws from it unseeded: it VAE-encodes the init image with `DiagonalGaussianDistribution.sample()`, whose
    `torch.randn` takes the global generator. So a plain img2img depends on the seed the previous generation
    left (measured with the tiny test model: the same img2img request twice differs by up to 50 8-bit levels
    when a txt2img of another seed ran in between, and is identical when it ran at the same seed). A DNS pass
    that ran before that set-up (as DNP's did in img2img, and as Preview DNS does before any generation) would
    otherwise change the next img2img's init latent; the pass runs after it now, and leaves no trace either way."""
    import copy

    import torch
    from modules import rng

    cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    missing = object()
    nv_rng = getattr(rng, "nv_rng", missing)  # only exists once a generation used the NV source
    nv_rng = nv_rng if nv_rng is missing else copy.deepcopy(nv_rng)
    with torch.random.fork_rng(devices=cuda):
        try:
            yield
        finally:
            if nv_rng is not missing:
                rng.nv_rng = nv_rng
            elif hasattr(rng, "nv_rng"):
                del rng.nv_rng


def _sample(p: Any, batch: list[int], pass_: DnsPass) -> list[Any]:
    from modules import processing, sd_models, shared

    from lib_dnp.webui import dns_key  # imports this module

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
        # None of its own: the outer request's override_settings are in effect already (its process_images set
        # them), and process_images restores only what the nested object overrides, so they stay in effect for
        # the main pass and are restored by the outer process_images as without DNP.
        override_settings={},
    )
    nested.scripts = None  # no script of any extension runs inside the DNS pass
    for name in COPIED_FIELDS:
        setattr(nested, name, getattr(p, name, None))
    nested.s_min_uncond = 0.0  # NGMS would drop the uncond half, which holds the prompt after the swap
    setattr(nested, MARK, True)
    nested._dnp_swaps = 0
    nested._dnp_swap_error = None
    try:
        # a control image belongs to the main image, not to the DNS image (see peers)
        with (
            _global_rng_kept(),
            _neutral_options(shared.opts),
            dns_key.READS.recording(shared.opts),
            peers.controlnet_paused(shared.sd_model),
        ):
            processed = processing.process_images(nested)
    finally:
        nested.close()
        # process_images resets token merging when it returns; the outer pass set it up already.
        sd_models.apply_token_merging(p.sd_model, p.get_token_merging_ratio())
    if nested._dnp_swap_error is not None:
        raise DnsGuidanceFailed(
            f"[DNP] DNS guidance failed: {nested._dnp_swap_error}"
        ) from nested._dnp_swap_error
    if nested._dnp_swaps == 0 and not shared.state.interrupted and not shared.state.skipped:
        raise DnsGuidanceFailed(
            "[DNP] the DNS guidance never ran: the sampler did not call the CFG-denoiser callback "
            "(an extension that replaces the sampler?)"
        )
    return list(processed.images[: len(batch)])
