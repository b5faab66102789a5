"""`python -m lib_dnp generate`: diffusion-negative prompting from the command line, with diffusers.

    python -m lib_dnp generate --prompt "a cat and a dog" --seed 1 --steps 20

Without --model it builds tiny random-weight demo models (a Stable Diffusion pipeline and a BLIP captioner) once
and caches them, so the command works on a fresh machine with no download; their pictures are noise, but every
pass (plain, DNS, captioning, DNP) runs for real. DNP options come from `lib_dnp.params.DnpParams`: their
defaults, bounds and help are the model's, and so are the error messages.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from lib_dnp import __version__
from lib_dnp.evaluation.command import add_evaluate_parser, run_evaluate
from lib_dnp.frontends import diffusers_problem
from lib_dnp.frontends.diffusers_frontend import DEFAULT_CFG, DEFAULT_STEPS
from lib_dnp.params import FIELDS, DnpParams, DnpParamsError, choices, coerce_text, params_dict, parse_params

# Every DnpParams field is an option, except those that mean nothing for one CLI run.
NOT_OPTIONS = ("enabled", "cache", "return_dns_images")
PARAM_OPTIONS = tuple(name for name in FIELDS if name not in NOT_OPTIONS)
DEMO_NOTE = (
    "[DNP] no --model given: using tiny random-weight demo models (Stable Diffusion + BLIP, built locally); the "
    "images are noise and the captions random words. Pass --model ID_OR_PATH for real pictures."
)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _add_param_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("DNP options (defaults and bounds: lib_dnp.params.DnpParams)")
    for name in PARAM_OPTIONS:
        field = DnpParams.__fields__[name]
        info = field.field_info
        text = f"{info.title}: {info.description or ''}"
        if field.default is not None and name != "captions":
            text += f" (default: {field.default})"
        if name == "captioner":
            text += "; without --model: the tiny demo BLIP"
        if name == "captions":
            text += " Repeat the option for several."
        options: dict[str, Any] = {
            "dest": name,
            "default": argparse.SUPPRESS,
            "help": text.replace("%", "%%"),
        }
        if choices(name):
            options["choices"] = choices(name)
        elif name == "captions":
            options.update(action="append", metavar="TEXT")
        else:
            kind = field.type_
            options["metavar"] = "N" if issubclass(kind, int) else "X" if issubclass(kind, float) else "TEXT"
        group.add_argument(_flag(name), **options)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lib_dnp", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser(
        "generate",
        help="plain, DNS and DNP images for a prompt, side by side",
        description="Generate plain, diffusion-negative (DNS) and DNP images at the same seed(s).",
        epilog="Demo models are cached under $DNP_DEMO_DIR, else $XDG_CACHE_HOME/sd-webui-dnp (~/.cache/sd-webui-dnp).",
    )
    generate.add_argument(
        "--model", help="diffusers model id or folder, or a single-file .safetensors checkpoint"
    )
    generate.add_argument("--prompt", required=True)
    generate.add_argument("--negative", default="", help="your own negative prompt (default: none)")
    generate.add_argument(
        "--seed", type=int, nargs="+", default=[-1], metavar="N", help="one or more; -1 = random"
    )
    generate.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="default: %(default)s")
    generate.add_argument(
        "--cfg",
        type=float,
        default=DEFAULT_CFG,
        help="CFG scale of the plain and DNP passes (default: %(default)s)",
    )
    generate.add_argument("--width", type=int, help="default: the model's")
    generate.add_argument("--height", type=int, help="default: the model's")
    generate.add_argument("--out", default="dnp-out", help="output folder (default: ./dnp-out)")
    generate.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available")
    generate.add_argument("--verbose", action="store_true", help="show diffusers' and transformers' warnings")
    _add_param_options(generate)
    _add_param_options(add_evaluate_parser(commands))
    return parser


def params_from_args(args: argparse.Namespace) -> DnpParams:
    """The DNP options given on the command line, validated by the params model (missing ones: its defaults)."""
    data: dict[str, Any] = {"enabled": True, "return_dns_images": True}  # the CLI always shows them
    for name in PARAM_OPTIONS:
        if hasattr(args, name):
            value = getattr(args, name)
            data[name] = value if name == "captions" else coerce_text(name, value)
    return parse_params(data)


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
    from diffusers import DiffusionPipeline, StableDiffusionPipeline
    from diffusers.utils import deprecation_utils

    # Newer diffusers renamed from_pretrained's torch_dtype to dtype (the old name warns); older know only torch_dtype.
    dtype_kwarg = {"dtype" if hasattr(deprecation_utils, "_resolve_dtype") else "torch_dtype": dtype}
    if os.path.isfile(model):
        pipe = StableDiffusionPipeline.from_single_file(model, **dtype_kwarg)
    else:
        # The class named in model_index.json; AutoPipeline would import every pipeline (several need a newer
        # transformers than the WebUI's 4.30.2).
        pipe = DiffusionPipeline.from_pretrained(model, **dtype_kwarg)
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


def model_and_params(args: argparse.Namespace, params: DnpParams) -> tuple[str, DnpParams]:
    """The model to load: --model, or the tiny demo model, whose tiny captioner then replaces the default one
    unless --captioner was given."""
    if args.model is not None:
        return args.model, params
    print(DEMO_NOTE, file=sys.stderr)
    model, demo_captioner = demo_models()
    if not hasattr(args, "captioner"):
        params = parse_params({**params_dict(params), "captioner": demo_captioner})
    return model, params


def captioner_for(params: DnpParams, device: str, dtype: Any) -> Any:
    from lib_dnp.captioners import HFCaptioner

    return HFCaptioner(
        params.captioner, device=device, dtype=dtype, max_tokens=params.max_tokens, num_beams=params.num_beams
    )


def run_generate(args: argparse.Namespace, params: DnpParams) -> int:
    import torch

    from lib_dnp.frontends.diffusers_frontend import generate
    from lib_dnp.frontends.report import write_outputs

    started = time.perf_counter()
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.float16 if device == "cuda" else torch.float32
    seeds = [random.SystemRandom().randrange(2**32) if seed == -1 else seed for seed in args.seed]
    model, params = model_and_params(args, params)
    try:
        pipe = load_pipeline(model, device, dtype)
    except Exception as error:  # OSError offline, ValueError for an unknown layout ...
        print(f"[DNP] could not load model '{model}': {error}", file=sys.stderr)
        return 1
    captioner = captioner_for(params, device, dtype)
    loaded = time.perf_counter()

    reranker = None
    if params.rerank != "off":
        from lib_dnp.evaluation.command import clip_models
        from lib_dnp.rerank import CaptionReranker

        reranker = CaptionReranker(clip_models("tiny" if args.model is None else "auto", device)[0])
    result = generate(
        pipe, args.prompt, seeds, negative=args.negative, steps=args.steps, cfg=args.cfg, width=args.width,
        height=args.height, params=params, captioner=captioner, reranker=reranker,
    )  # fmt: skip
    first = result.dnp_images[0]
    record = {
        "prompt": args.prompt,
        "negative": args.negative,
        "model": model if args.model else "tiny random-weight demo pipeline",
        "demo_models": args.model is None,
        "device": device,
        "dtype": str(dtype).replace("torch.", ""),
        "settings": {
            "steps": args.steps,
            "cfg": args.cfg,
            "width": first.width,
            "height": first.height,
            "scheduler": type(pipe.scheduler).__name__,
            "dns_steps": result.dns_steps,
            "dns_scale": result.dns_scale,
            "dns_size": list(result.dns_size),
        },  # fmt: skip
        "params": params_dict(params),
        "timings": {
            "load": round(loaded - started, 3),
            **{name: round(seconds, 3) for name, seconds in result.timings.items()},
            "total": round(time.perf_counter() - started, 3),
        },
        "versions": versions(),
    }
    paths = write_outputs(args.out, result, record)
    for seed, caption, negative, error in zip(result.seeds, result.captions, result.negatives, result.errors):
        if error:
            print(f"[DNP] seed {seed}: no DNP negative ({error}); kept {negative!r}", file=sys.stderr)
        else:
            print(f"seed {seed}: caption {caption!r} -> negative {negative!r}")
    print(f"[DNP] wrote {paths['comparison']} and {paths['record']} ({time.perf_counter() - started:.1f} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        params = params_from_args(args)
    except DnpParamsError as error:
        parser.error(f"[DNP] {error}")
    if not args.verbose:  # before diffusers and transformers are imported: they read these once
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if args.command == "evaluate":  # it checks diffusers itself: through a WebUI it needs none
        return run_evaluate(args, params)
    problem = diffusers_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    return run_generate(args, params)
