"""Manual DNP from the UI: run only the DNS pass and captioning for the current settings, show them for editing."""

from __future__ import annotations

from typing import Any

from lib_dnp.params import DnpParamsError, parse_params
from lib_dnp.webui import generation, runtime


def preview(
    args: dict[str, Any],
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
) -> tuple[list[Any], str, int, str]:
    """→ (DNS images, captions one per line, the seed used, a status line)."""
    from modules import processing, sd_vae, shared
    from modules.call_queue import queue_lock

    try:
        params = parse_params({**(args or {}), "enabled": True, "mode": "auto", "captions": []})
    except DnpParamsError as error:
        return [], "", seed, f"[DNP] cannot preview: {error}"
    fixed_seed = int(processing.get_fixed_seed(int(float(seed))))
    p = processing.StableDiffusionProcessingTxt2Img(
        sd_model=shared.sd_model,
        prompt=prompt,
        negative_prompt=negative,
        seed=fixed_seed,
        steps=int(steps),
        cfg_scale=float(cfg_scale),
        width=int(width),
        height=int(height),
        batch_size=int(batch_size),
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
            p.sd_model_hash = shared.sd_model.sd_model_hash
            p.sd_vae_hash = sd_vae.get_loaded_vae_hash()
            results = generation.run_job(p, params, with_images=True)
        finally:
            p.close()
            shared.state.end()
    images = [r.dns_image for r in results if r.dns_image is not None]
    captions = [r.caption or "" for r in results]
    errors = sorted({r.error for r in results if r.error})
    runtime.last_results["preview"] = (images, captions)
    if errors:
        status = "[DNP] " + "; ".join(errors)
    else:
        status = (
            f"Seed {fixed_seed}. Edit the captions (one per image), then set Mode to manual and Generate."
        )
    return images, "\n".join(captions), fixed_seed, status
