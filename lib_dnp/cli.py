"""`python -m lib_dnp generate`: diffusion-negative prompting from the command line, with diffusers.

    python -m lib_dnp generate --prompt "a cat and a dog" --seed 1 --steps 20

Without --model it builds tiny random-weight demo models (a Stable Diffusion pipeline and a BLIP captioner) once
and caches them, so the command works on a fresh machine with no download; their pictures are noise, but every
pass (plain, DNS, captioning, DNP) runs for real. DNP options come from `lib_dnp.params.DnpParams`: their
defaults, bounds and help are the model's, and so are the error messages. Bad input ends in one `[DNP]` line.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import time
from typing import NoReturn

from lib_dnp import __version__
from lib_dnp.errors import DnpError
from lib_dnp.evaluation.command import add_evaluate_parser, evaluate_warnings, run_evaluate
from lib_dnp.frontends import diffusers_problem
from lib_dnp.frontends.options import (
    add_param_options,
    bounded,
    mode_warnings,
    params_from_args,
    params_problem,
)
from lib_dnp.frontends.settings import DEFAULT_CFG, DEFAULT_STEPS
from lib_dnp.params import DnpParams, DnpParamsError, params_dict


class DnpArgumentParser(argparse.ArgumentParser):
    """Bad arguments end in one `[DNP]` line on stderr (exit code 2), not argparse's usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"[DNP] {message} (see: {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = DnpArgumentParser(prog="python -m lib_dnp", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"sd-webui-dnp {__version__}")
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
        "--seed", type=bounded("seed"), nargs="+", default=[-1], metavar="N", help="one or more; -1 = random"
    )
    generate.add_argument(
        "--steps", type=bounded("steps"), default=DEFAULT_STEPS, help="default: %(default)s"
    )
    generate.add_argument(
        "--cfg", type=bounded("cfg"), default=DEFAULT_CFG,
        help="CFG scale of the plain and DNP passes (default: %(default)s)",
    )  # fmt: skip
    generate.add_argument("--width", type=bounded("width"), help="default: the model's")
    generate.add_argument("--height", type=bounded("height"), help="default: the model's")
    generate.add_argument("--out", default="dnp-out", help="output folder (default: ./dnp-out)")
    generate.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available")
    generate.add_argument("--verbose", action="store_true", help="show diffusers' and transformers' warnings")
    add_param_options(generate)
    add_param_options(add_evaluate_parser(commands))
    return parser


def run_generate(args: argparse.Namespace, params: DnpParams) -> int:
    import torch

    from lib_dnp.frontends import models
    from lib_dnp.frontends.diffusers_frontend import generate
    from lib_dnp.frontends.report import write_outputs

    started = time.perf_counter()
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.float16 if device == "cuda" else torch.float32
    seeds = [random.SystemRandom().randrange(2**32) if seed == -1 else seed for seed in args.seed]
    model, params = models.model_and_params(args.model, params, captioner_given=hasattr(args, "captioner"))
    pipe = models.load_pipeline(model, device, dtype)
    captioner = models.captioner_for(params, device, dtype)
    loaded = time.perf_counter()

    reranker = None
    if params.rerank != "off":
        from lib_dnp.rerank import CaptionReranker

        reranker = CaptionReranker(models.clip_models("tiny" if args.model is None else "auto", device)[0])
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
        "versions": models.versions(),
    }
    paths = write_outputs(args.out, result, record)
    for seed, caption, negative, error in zip(result.seeds, result.captions, result.negatives, result.errors):
        if error:
            print(f"[DNP] seed {seed}: no DNP negative ({error}); kept {negative!r}", file=sys.stderr)
        else:
            print(f"seed {seed}: caption {caption!r} -> negative {negative!r}")
    print(f"[DNP] wrote {paths['comparison']} and {paths['record']} ({time.perf_counter() - started:.1f} s)")
    return 0


def _warnings(args: argparse.Namespace, params: DnpParams) -> list[str]:
    if args.command == "evaluate":
        return evaluate_warnings(args, params)
    return mode_warnings(args, params, reranks=params.rerank != "off")


def _run(args: argparse.Namespace, params: DnpParams) -> int:
    if args.command == "evaluate":  # it checks diffusers itself: through a WebUI it needs none
        return run_evaluate(args, params)
    problem = diffusers_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    return run_generate(args, params)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        params = params_from_args(args)
    except DnpParamsError as error:
        parser.exit(2, f"[DNP] {params_problem(error)} (see: {parser.prog} {args.command} --help)\n")
    for warning in _warnings(args, params):
        print(f"[DNP] warning: {warning}", file=sys.stderr)
    if not args.verbose:  # before diffusers and transformers are imported: they read these once
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        return _run(args, params)
    except DnpError as error:  # a model that cannot load, a WebUI that cannot be reached ...
        remedy = f" — {error.remedy}" if error.remedy else ""
        print(f"{_prefixed(error.message)}{remedy}", file=sys.stderr)
        return 1


def _prefixed(message: str) -> str:
    return message if message.startswith("[DNP]") else f"[DNP] {message}"
