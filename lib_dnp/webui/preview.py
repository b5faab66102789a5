"""Manual DNP from the UI: run only the DNS pass and captioning for the current settings, show them for editing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lib_dnp.params import DnpParams, DnpParamsError, parse_params
from lib_dnp.pipeline import ImageResult
from lib_dnp.webui import generation, platform

# A preview is auto-DNP whatever the accordion says: it makes the captions that manual mode then uses.
PREVIEW_MODE = {"enabled": True, "mode": "auto", "captions": []}


def preview(
    data: dict[str, Any],
    prompt: str,
    negative: str,
    seed: Any,
    steps: Any,
    cfg_scale: Any,
    width: Any,
    height: Any,
    batch_size: Any,
    sampler: str,
    scheduler: str,
) -> tuple[list[Any], list[str], Any, str]:
    """The accordion's Preview button → (DNS images, one caption per image, the seed used, a status line).

    `data` is the accordion's params dict; what the preview shows goes back to the session that asked only."""
    try:
        params = parse_params({**(data or {}), **PREVIEW_MODE})
    except DnpParamsError as error:
        return [], [], seed, f"[DNP] cannot preview: {error}"
    settings = Settings(
        prompt, negative, int(float(seed)), int(steps), float(cfg_scale), int(width), int(height)
    )
    results, fixed_seed = dns_preview(params, settings, int(batch_size), sampler, scheduler)
    images = [r.dns_image for r in results if r.dns_image is not None]
    captions = [r.caption or "" for r in results]
    errors = sorted({r.error for r in results if r.error})
    if errors:
        status = "[DNP] " + "; ".join(errors)
    else:
        status = (
            f"Seed {fixed_seed} fixed, Mode set to manual: edit the captions (one per image), then Generate."
        )
    return images, captions, fixed_seed, status


@dataclass(frozen=True)
class Settings:
    prompt: str
    negative: str
    seed: int  # -1 = random
    steps: int
    cfg_scale: float
    width: int
    height: int


def dns_preview(
    params: DnpParams, settings: Settings, batch_size: int, sampler: str, scheduler: str
) -> tuple[list[ImageResult], int]:
    """Only the DNS pass and captioning, for a txt2img with these settings (seeds seed, seed + 1, ...).

    → (one result per image, with its DNS image; the seed used). Serialised with generations by the queue lock.
    """
    from modules import processing, sd_vae, shared
    from modules.call_queue import queue_lock

    params = params.copy(update=PREVIEW_MODE)
    fixed_seed = int(processing.get_fixed_seed(settings.seed))
    p = processing.StableDiffusionProcessingTxt2Img(
        sd_model=shared.sd_model,
        prompt=settings.prompt,
        negative_prompt=settings.negative,
        seed=fixed_seed,
        steps=settings.steps,
        cfg_scale=settings.cfg_scale,
        width=settings.width,
        height=settings.height,
        batch_size=batch_size,
        n_iter=1,
        sampler_name=sampler,
        scheduler=scheduler,
        do_not_save_samples=True,
        do_not_save_grid=True,
    )
    with queue_lock:
        shared.state.begin(job="dnp_preview")
        try:
            p.setup_prompts()
            p.all_seeds = [fixed_seed + i for i in range(len(p.all_prompts))]
            p.all_subseeds = [int(processing.get_fixed_seed(-1))] * len(p.all_prompts)
            p.sd_model = platform.loaded_model()  # Forge: the real model, not its start-up placeholder
            p.sd_model_hash = p.sd_model.sd_model_hash
            p.sd_vae_hash = sd_vae.get_loaded_vae_hash()
            results = generation.run_job(p, params, with_images=True)
        finally:
            p.close()
            shared.state.end()
    return results, fixed_seed
