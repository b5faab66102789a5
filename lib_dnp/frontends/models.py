"""What `python -m lib_dnp generate` and `evaluate` load: the diffusers pipeline, the captioner, the CLIP models,
and the tiny random-weight demo models, built once and cached, used when no --model is given.

Both commands use this module; neither imports the other's.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Callable
from typing import Any

from lib_dnp import __version__
from lib_dnp.errors import ModelUnavailable
from lib_dnp.params import DnpParams, params_dict, parse_params

DEMO_NOTE = (
    "[DNP] no --model given: using tiny random-weight demo models (Stable Diffusion + BLIP, built locally); the "
    "images are noise and the captions random words. Pass --model ID_OR_PATH for real pictures."
)


def demo_dir() -> str:
    """Where the demo models live: one folder per version set (a saved folder loads only in the versions that
    wrote it)."""
    import diffusers
    import transformers

    base = os.environ.get("DNP_DEMO_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser(os.path.join("~", ".cache")), "sd-webui-dnp"
    )
    return os.path.join(
        base, f"demo-{__version__}-diffusers{diffusers.__version__}-transformers{transformers.__version__}"
    )


def ensure_built(folder: str, builder: Callable[[str], str]) -> str:
    """`folder`, built by `builder` unless it exists. Built aside and renamed into place, so a run that is cut off
    (or two at once) never leaves a half-written model behind."""
    if os.path.isdir(folder):
        return folder
    parent = os.path.dirname(folder)
    os.makedirs(parent, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=".building-", dir=parent)
    try:
        built = builder(os.path.join(scratch, "model"))
        try:
            os.replace(built, folder)
        except OSError:
            if not os.path.isdir(folder):  # else another run finished first: use its copy
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return folder


def demo_models() -> tuple[str, str]:
    """(pipeline folder, captioner folder) of the tiny demo models, built on first use."""
    from lib_dnp.testing.tiny_captioner import build_tiny_blip
    from lib_dnp.testing.tiny_sd import build_tiny_sd_pipeline

    base = demo_dir()
    return ensure_built(os.path.join(base, "tiny-sd"), build_tiny_sd_pipeline), ensure_built(
        os.path.join(base, "tiny-blip"), build_tiny_blip
    )


def load_pipeline(model: str, device: str, dtype: Any) -> Any:
    """The diffusers pipeline of `model` (id, folder or single .safetensors file) on `device`. Raises
    ModelUnavailable when it cannot be loaded (offline, unknown layout ...)."""
    from diffusers import DiffusionPipeline, StableDiffusionPipeline
    from diffusers.utils import deprecation_utils

    # Newer diffusers renamed from_pretrained's torch_dtype to dtype (the old name warns); older know only torch_dtype.
    dtype_kwarg = {"dtype" if hasattr(deprecation_utils, "_resolve_dtype") else "torch_dtype": dtype}
    try:
        if os.path.isfile(model):
            pipe = StableDiffusionPipeline.from_single_file(model, **dtype_kwarg)
        else:
            # The class named in model_index.json; AutoPipeline would import every pipeline (several need a newer
            # transformers than the WebUI's 4.30.2).
            pipe = DiffusionPipeline.from_pretrained(model, **dtype_kwarg)
    except Exception as error:  # OSError offline, ValueError for an unknown layout ...
        raise ModelUnavailable(
            f"[DNP] could not load model '{model}': {error}",
            remedy="give a diffusers model id or folder, or a single-file .safetensors checkpoint",
        ) from error
    return pipe.to(device)


def versions() -> dict[str, str]:
    import diffusers
    import torch
    import transformers

    return {
        "sd-webui-dnp": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
    }


def model_and_params(model: str | None, params: DnpParams, captioner_given: bool) -> tuple[str, DnpParams]:
    """The model to load: `model`, or the tiny demo model, whose tiny captioner then replaces the default one
    unless a captioner was given."""
    if model is not None:
        return model, params
    print(DEMO_NOTE, file=sys.stderr)
    model, demo_captioner = demo_models()
    if not captioner_given:
        params = parse_params({**params_dict(params), "captioner": demo_captioner})
    return model, params


def captioner_for(params: DnpParams, device: str, dtype: Any) -> Any:
    from lib_dnp.captioners import HFCaptioner

    return HFCaptioner(
        params.captioner, device=device, dtype=dtype, max_tokens=params.max_tokens, num_beams=params.num_beams
    )


def clip_models(choice: str, device: str) -> tuple[Any, Any]:
    """(ViT-B/16 for the A&E scores and re-ranking, ViT-B/32 for CLIPScore); both the same tiny model for 'tiny'.
    Raises ModelUnavailable when the chosen backend cannot be used."""
    from lib_dnp.clip_models import TransformersClipModel, load_clip

    if choice == "tiny":
        from lib_dnp.testing.tiny_clip import build_tiny_clip

        folder = ensure_built(os.path.join(demo_dir(), "tiny-clip"), build_tiny_clip)
        tiny = TransformersClipModel(folder, device, label="tiny random-weight demo CLIP")
        return tiny, tiny
    return load_clip("ViT-B-16", choice, device), load_clip("ViT-B-32", choice, device)  # type: ignore[arg-type]
