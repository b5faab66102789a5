"""Command-line options shared by `python -m lib_dnp generate` and `evaluate`: DNP's own options (from the params
model), the main pass's bounded settings (`lib_dnp.frontends.settings`), and warnings for options that do
nothing in the chosen mode."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from lib_dnp.frontends.settings import BOUNDS, OutOfBounds
from lib_dnp.params import FIELDS, DnpParams, DnpParamsError, choices, coerce_text, parse_params

# Every DnpParams field is an option, except those that mean nothing for one command-line run.
NOT_OPTIONS = ("enabled", "cache", "return_dns_images")
PARAM_OPTIONS = tuple(name for name in FIELDS if name not in NOT_OPTIONS)
# Options that only matter when captions are made by the captioner (auto mode), and only when re-ranking.
CAPTIONER_OPTIONS = ("captioner", "max_tokens", "num_beams", "rerank", "candidates")


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def bounded(name: str) -> Callable[[str], Any]:
    """An argparse `type` for the main-pass setting `name`: its bounds, one place (`settings.BOUNDS`)."""
    bound = BOUNDS[name]

    def parse(text: str) -> Any:
        try:
            return bound.parse(text)
        except OutOfBounds as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parse.__name__ = bound.kind.__name__  # argparse names the type in its own messages
    return parse


def add_param_options(parser: argparse.ArgumentParser) -> None:
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
        group.add_argument(flag(name), **options)


def params_from_args(args: argparse.Namespace) -> DnpParams:
    """The DNP options given on the command line, validated by the params model (missing ones: its defaults).
    Raises DnpParamsError; its problems name the fields."""
    data: dict[str, Any] = {"enabled": True, "return_dns_images": True}  # the CLI always shows them
    for name in PARAM_OPTIONS:
        if hasattr(args, name):
            value = getattr(args, name)
            data[name] = value if name == "captions" else coerce_text(name, value)
    return parse_params(data)


def params_problem(error: DnpParamsError) -> str:
    """The params model's problems, each under its command-line flag."""
    return "; ".join(f"{flag(field.split('.')[0])}: {message}" for field, message in error.problems)


def given(args: argparse.Namespace, name: str) -> bool:
    """Whether a DNP option was given (they default to argparse.SUPPRESS, so only given ones exist)."""
    return hasattr(args, name)


def mode_warnings(args: argparse.Namespace, params: DnpParams, reranks: bool) -> list[str]:
    """Warnings for DNP options that do nothing: captions in auto mode, captioner settings in manual mode,
    candidates without re-ranking (`reranks`: whether any pass of this run re-ranks)."""
    warnings = []
    if params.mode == "auto" and given(args, "captions"):
        warnings.append(
            "--captions does nothing in auto mode (captions come from the captioner); add --mode manual"
        )
    if params.mode == "manual":
        idle = [flag(name) for name in CAPTIONER_OPTIONS if given(args, name)]
        if idle:
            verb = "does" if len(idle) == 1 else "do"
            warnings.append(
                f"{', '.join(idle)} {verb} nothing in manual mode (your --captions are the captions)"
            )
    else:
        warnings += candidate_warnings(args, reranks)
    return warnings


def candidate_warnings(args: argparse.Namespace, reranks: bool) -> list[str]:
    if given(args, "candidates") and not reranks:
        return ["--candidates does nothing without re-ranking (--rerank image or prompt)"]
    return []
