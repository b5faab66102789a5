"""Diffusion-negative sampling (DNS) guidance as pure functions of noise predictions.

Desai & Vasconcelos, "Improving image synthesis with diffusion-negative sampling" (ECCV 2024):

    CFG (eq. 3):  eps = eps_empty + s * (eps_p - eps_empty)
    DNS (eq. 19): eps = eps_empty + s * (eps_empty - eps_p)

DNS is CFG with the roles of the prompt and the empty prompt swapped. A sampler that only knows CFG,
`eps = eps_u + S * (eps_c - eps_u)`, produces eq. 19 when it is given the empty prompt as its "cond" and the
prompt as its "uncond", at scale S = s + 1:

    eps_p + (s + 1) * (eps_empty - eps_p) = eps_empty + s * (eps_empty - eps_p)

That is the route the WebUI front end takes (swap the conds in the CFG-denoiser callback, raise the scale by one);
`tests/test_guidance.py` checks that both routes give the same image.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

Tensor = TypeVar("Tensor")

# The WebUI splits composable prompts on a whole-word AND (modules/prompt_parser.py, re_AND).
_AND = re.compile(r"\bAND\b")
_WEIGHT = re.compile(r"\s*:\s*[-+]?(?:\d+\.?\d*|\.\d+)\s*$")


class CondMismatchError(ValueError):
    """The cond and uncond batches cannot be swapped row for row (e.g. a composable AND prompt)."""


def dns(eps_empty: Tensor, eps_prompt: Tensor, scale: float) -> Tensor:
    """Diffusion-negative guidance (eq. 19): eps_empty + scale * (eps_empty - eps_prompt).

    Pushes samples towards the images the model finds least compliant with the prompt.
    """
    return eps_empty + scale * (eps_empty - eps_prompt)  # type: ignore[operator]


def swapped_cfg_scale(dns_scale: float) -> float:
    """The CFG scale that makes a cond/uncond-swapped CFG sampler compute eq. 19 at `dns_scale` (see module doc)."""
    return dns_scale + 1.0


def cond_rows(cond: Any) -> int:
    """Batch rows of a conditioning: a tensor (SD1.x/SD2) or a dict of tensors (SDXL: crossattn, vector)."""
    if isinstance(cond, dict):
        return int(cond["crossattn"].shape[0])
    return int(cond.shape[0])


def swap_conds(cond: Any, uncond: Any) -> tuple[Any, Any]:
    """(cond, uncond) → (uncond, cond), for tensor conds and SDXL dict conds alike.

    Refuses when the row counts differ: with a composable `A AND B` prompt the WebUI batches one cond row per
    sub-prompt but one uncond row per image, and a swap would misalign the CFG combine.
    """
    if cond_rows(cond) != cond_rows(uncond):
        raise CondMismatchError(
            f"expected as many cond rows as uncond rows, but got {cond_rows(cond)} and {cond_rows(uncond)} "
            "(a composable AND prompt?)"
        )
    return uncond, cond


def is_composable(prompt: str) -> bool:
    """Whether the WebUI would treat `prompt` as a composable (AND) prompt."""
    return len(_AND.split(prompt)) > 1


def flatten_composable(prompt: str) -> str:
    """`a cat :1.2 AND a dog` → `a cat, a dog`: one prompt for the DNS pass, which needs one cond per image.

    DNS negates what the model is asked for; with AND that is the union of the sub-prompts, which a single
    comma-joined prompt approximates. Sub-prompt weights are dropped.
    """
    parts = [_WEIGHT.sub("", part).strip() for part in _AND.split(prompt)]
    return ", ".join(part for part in parts if part)
