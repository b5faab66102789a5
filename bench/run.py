"""`python -m bench`: DNP's cost against a plain generation, in one process, interleaved; prints a table, writes
JSON. See bench/README.md."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from typing import Any

from bench import report, startup
from bench.measure import Runner
from bench.models import Setup, gpu_setups, tiny_setup


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="cpu: tiny models only; cuda: real-size SD1.5 and SDXL only; auto: tiny, then the "
                        "real-size ones when CUDA is there")  # fmt: skip
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed rounds (after one untimed warm-up round)"
    )
    parser.add_argument("--batch", type=int, default=1)
    # 192² makes the fast preset's ¾ size a real reduction (128², in multiples of 64).
    parser.add_argument("--tiny-size", type=int, default=192, help="side of the tiny pipeline's images")
    parser.add_argument("--tiny-steps", type=int, default=20)
    parser.add_argument("--json", default="bench-results.json", help="where to write the results")
    parser.add_argument("--no-startup", action="store_true", help="skip the start-up import measurement")
    parser.add_argument("--webui", help="a WebUI folder: also time loading scripts/dnp.py in it")
    parser.add_argument("--webui-python", help="the WebUI's python (with --webui)")
    return parser.parse_args(argv)


def _machine(device: str) -> dict[str, Any]:
    import diffusers
    import torch
    import transformers

    name = (
        torch.cuda.get_device_name()
        if device == "cuda"
        else f"CPU, {os.cpu_count()} cores, torch on 1 thread"
    )
    return {"device": name, "platform": platform.platform(), "python": platform.python_version(),
            "torch": torch.__version__, "transformers": transformers.__version__,
            "diffusers": diffusers.__version__}  # fmt: skip


def measure_setup(setup: Setup, repeats: int) -> dict[str, Any]:
    measured = Runner(setup).run(repeats)
    result = {"name": setup.name, "device": setup.device, "width": setup.width, "height": setup.height,
              "steps": setup.steps, "batch": setup.batch, **measured}  # fmt: skip
    result["ratios"] = report.ratios(result["median_s"])
    result["targets"] = report.targets(result)
    return result


def main(argv: list[str] | None = None) -> int:
    import torch

    args = parse_args(argv)
    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    if args.device == "cuda" and not torch.cuda.is_available():
        print("[DNP] --device cuda: no CUDA device here", file=sys.stderr)
        return 2
    torch.manual_seed(0)
    setups: list[dict[str, Any]] = []
    if args.device in ("auto", "cpu"):
        # One thread: on a small shared CPU, torch's threads fight other processes and timings vary tenfold.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        tiny = tiny_setup(batch=args.batch, steps=args.tiny_steps, size=args.tiny_size)
        setups.append(measure_setup(tiny, args.repeats))
        torch.set_num_threads(threads)
    if cuda:
        for setup in gpu_setups(batch=args.batch):
            setups.append(measure_setup(setup, args.repeats))
            setup.pipe = None  # free the UNet before the next architecture is built
            torch.cuda.empty_cache()
    result: dict[str, Any] = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": _machine("cuda" if cuda else "cpu"),
        "repeats": args.repeats,
        "setups": setups,
    }
    if not args.no_startup:
        measured: dict[str, Any] = {"lib_dnp": startup.lib_dnp_imports()}
        if args.webui:
            measured["webui_script"] = startup.webui_script_load(
                args.webui, args.webui_python or sys.executable
            )
        measured["targets"] = report.startup_targets(measured)
        result["startup"] = measured
    print(report.table(result))
    with open(args.json, "w", encoding="utf-8") as file:
        json.dump(result, file, indent=2)
    print(f"\nwrote {args.json}")
    return 0
