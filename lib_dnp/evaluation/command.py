"""`python -m lib_dnp evaluate`: the DNP paper's evaluation on your model, from the command line.

    python -m lib_dnp evaluate --prompts prompts.json --seeds 32 --model runwayml/stable-diffusion-v1-5
    python -m lib_dnp evaluate --prompts prompts.txt --seeds 8 --webui http://127.0.0.1:7860

Through diffusers (`--model`; none = the tiny random demo models and a tiny random CLIP, so the command runs with
no download) or through a running WebUI's API (`--webui URL`, the WebUI started with --api). Writes the images,
images.csv (one row per image), prompts.csv (means per prompt), summary.md/.json and summary.png.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.parse
from typing import Any

from lib_dnp.evaluation.runners import DEFAULT_STRATEGIES, GENERIC_NEGATIVE, STRATEGIES, WEBUI_BATCH_SIZE
from lib_dnp.frontends.options import bounded, candidate_warnings, given
from lib_dnp.frontends.settings import DEFAULT_CFG, DEFAULT_STEPS
from lib_dnp.params import DnpParams, params_dict

CLIP_CHOICES = ("auto", "open-clip", "transformers", "tiny")


def add_evaluate_parser(commands: Any) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "evaluate",
        help="score SD against SD + auto-DNP on a prompt set (A&E CLIP scores, CLIPScore)",
        description=__doc__.split("\n\n")[0] + " Scores: Attend-and-Excite full-prompt and min-object CLIP "
        "similarity (ViT-B/16) and Hessel CLIPScore (ViT-B/32, 2.5·max(cos, 0)).",
    )
    parser.add_argument(
        "--prompts", required=True, help="A&E prompt JSON, a JSON list, or one prompt per line"
    )
    parser.add_argument(
        "--seeds",
        type=bounded("seeds"),
        default=4,
        metavar="N",
        help="seeds per prompt (default: %(default)s)",
    )
    parser.add_argument(
        "--first-seed", type=bounded("first_seed"), default=0, metavar="S", help="seeds S..S+N-1 (default: 0)"
    )
    parser.add_argument(
        "--strategies", nargs="+", choices=STRATEGIES, default=list(DEFAULT_STRATEGIES),
        help="negative strategies to compare (default: empty dnp)",
    )  # fmt: skip
    parser.add_argument(
        "--generic-negative", default=GENERIC_NEGATIVE, help="the 'generic' strategy's negative"
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--model", help="diffusers model id or folder, or a single-file .safetensors checkpoint"
    )
    source.add_argument(
        "--webui",
        metavar="URL",
        type=webui_url,
        help="a running WebUI (--api) to generate with, http(s)://host:port",
    )
    parser.add_argument("--sampler", help="WebUI sampler name (default: the WebUI's)")
    parser.add_argument(
        "--batch-size",
        type=bounded("batch_size"),
        help=f"WebUI images per request (default: {WEBUI_BATCH_SIZE})",
    )
    parser.add_argument("--steps", type=bounded("steps"), default=DEFAULT_STEPS, help="default: %(default)s")
    parser.add_argument("--cfg", type=bounded("cfg"), default=DEFAULT_CFG, help="default: %(default)s")
    parser.add_argument("--width", type=bounded("width"), help="default: the model's")
    parser.add_argument("--height", type=bounded("height"), help="default: the model's")
    parser.add_argument(
        "--clip", choices=CLIP_CHOICES,
        help="CLIP backend for scores and re-ranking (default: tiny with the demo models, else auto = open-clip "
        "when it imports, else transformers)",
    )  # fmt: skip
    parser.add_argument("--out", default="dnp-eval", help="output folder (default: ./dnp-eval)")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available")
    parser.add_argument("--verbose", action="store_true", help="show diffusers' and transformers' warnings")
    return parser


def webui_url(text: str) -> str:
    """An argparse `type`: the WebUI's base URL, http or https with a host."""
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(f"expected a URL like http://127.0.0.1:7860, but got {text!r}")
    return text


def evaluate_warnings(args: argparse.Namespace, params: DnpParams) -> list[str]:
    """Options that do nothing in this evaluation: each DNP strategy captions in auto mode itself."""
    warnings = [f"{flag} does nothing in evaluate (its DNP strategies caption in auto mode)" for flag, name in
                (("--mode", "mode"), ("--captions", "captions")) if given(args, name)]  # fmt: skip
    reranks = params.rerank != "off" or any(s.startswith("dnp-rerank-") for s in args.strategies)
    warnings += candidate_warnings(args, reranks)
    if not args.webui and (args.sampler is not None or args.batch_size is not None):
        warnings.append("--sampler and --batch-size do nothing without --webui")
    if args.generic_negative != GENERIC_NEGATIVE and "generic" not in args.strategies:
        warnings.append(
            "--generic-negative does nothing without the 'generic' strategy (--strategies ... generic)"
        )
    return warnings


def _diffusers_runner(args: argparse.Namespace, params: DnpParams, device: str, reranker: Any) -> Any:
    import torch

    from lib_dnp.evaluation.runners import DiffusersRunner
    from lib_dnp.frontends.models import captioner_for, load_pipeline, model_and_params

    dtype = torch.float16 if device == "cuda" else torch.float32
    model, params = model_and_params(args.model, params, captioner_given=given(args, "captioner"))
    pipe = load_pipeline(model, device, dtype)
    pipe.set_progress_bar_config(disable=True)
    captioner = captioner_for(params, device, dtype)
    return DiffusersRunner(
        pipe, captioner, params, steps=args.steps, cfg=args.cfg, width=args.width, height=args.height,
        generic_negative=args.generic_negative, reranker=reranker,
    )  # fmt: skip


def run_evaluate(args: argparse.Namespace, params: DnpParams) -> int:
    import torch

    from lib_dnp.evaluation.harness import run_evaluation
    from lib_dnp.evaluation.prompts import load_prompts
    from lib_dnp.evaluation.report import markdown_table, summary, write_report
    from lib_dnp.evaluation.runners import WebuiRunner
    from lib_dnp.evaluation.scoring import CLIPSCORE_PREFIX, CLIPSCORE_WEIGHT, Scorer
    from lib_dnp.frontends import diffusers_problem
    from lib_dnp.frontends.models import clip_models
    from lib_dnp.rerank import CaptionReranker

    started = time.perf_counter()
    try:
        prompts = load_prompts(args.prompts)
    except (OSError, ValueError) as error:
        print(f"[DNP] cannot read prompts from {args.prompts}: {error}", file=sys.stderr)
        return 2
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    demo = args.model is None and args.webui is None
    clip_choice = args.clip or ("tiny" if demo else "auto")
    ae_clip, clipscore_clip = clip_models(clip_choice, device)
    if args.webui:
        runner: Any = WebuiRunner(
            args.webui, params, steps=args.steps, cfg=args.cfg, width=args.width, height=args.height,
            sampler=args.sampler, batch_size=args.batch_size or WEBUI_BATCH_SIZE,
            generic_negative=args.generic_negative,
        )  # fmt: skip
        source = f"WebUI at {args.webui} (its loaded checkpoint)"
    else:
        problem = diffusers_problem()
        if problem:
            print(problem, file=sys.stderr)
            return 2
        runner = _diffusers_runner(args, params, device, CaptionReranker(ae_clip))
        source = "tiny random-weight demo pipeline" if demo else args.model

    def progress(done: int, total: int, strategy: str, prompt: str) -> None:
        print(f"[DNP] {done + 1}/{total} {strategy}: {prompt}", file=sys.stderr)

    scorer = Scorer(ae_clip, clipscore_clip)
    items = run_evaluation(runner, prompts, seeds, args.strategies, scorer, args.out, progress)
    notes = {
        "images from": source,
        "seeds per prompt": f"{len(seeds)} ({seeds[0]}..{seeds[-1]})",
        "prompts": f"{len(prompts)} from {os.path.basename(args.prompts)}",
        "A&E CLIP scores": f"{ae_clip.name}, raw cosine, 80-template text ensemble",
        "CLIPScore": f"{clipscore_clip.name}, {CLIPSCORE_WEIGHT}·max(cos, 0), text '{CLIPSCORE_PREFIX}<prompt>'",
        "re-ranking CLIP": ae_clip.name,
    }
    record = {"title": f"DNP evaluation: {source}", "notes": notes, "settings": vars(args) | {"seeds": seeds},
              "params": params_dict(params), "strategies": list(args.strategies)}  # fmt: skip
    paths = write_report(args.out, items, record)
    print(markdown_table(summary(items)))
    for name, value in notes.items():
        print(f"  {name}: {value}")
    print(f"[DNP] wrote {', '.join(paths.values())} ({time.perf_counter() - started:.1f} s)")
    return 0
