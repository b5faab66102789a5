"""The evaluation loop: for each prompt and strategy, make the images of every seed, save and score them."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from lib_dnp.evaluation.prompts import EvalPrompt
from lib_dnp.evaluation.report import ScoredImage
from lib_dnp.evaluation.runners import Sample
from lib_dnp.evaluation.scoring import Scorer


class Runner(Protocol):
    def run(self, prompt: EvalPrompt, seeds: Sequence[int], strategy: str) -> list[Sample]: ...


def slug(text: str, length: int = 48) -> str:
    """A file-name-safe short form of a prompt."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:length] or "prompt"


def image_path(strategy: str, prompt_index: int, prompt: str, seed: int) -> str:
    """Where an evaluated image is saved, relative to the output folder."""
    return "/".join(("images", strategy, f"{prompt_index:03d}-{slug(prompt)}", f"seed{seed}.png"))


def run_evaluation(
    runner: Runner,
    prompts: Sequence[EvalPrompt],
    seeds: Sequence[int],
    strategies: Sequence[str],
    scorer: Scorer,
    out_dir: str,
    on_progress: Callable[[int, int, str, str], Any] | None = None,
) -> list[ScoredImage]:
    """Make, save (PNG, lossless: the saved file scores as the image did) and score every image."""
    items: list[ScoredImage] = []
    total = len(prompts) * len(strategies)
    for index, prompt in enumerate(prompts):
        for strategy in strategies:
            if on_progress:
                on_progress(len(items) // max(len(seeds), 1), total, strategy, prompt.text)
            samples = runner.run(prompt, seeds, strategy)
            scores = scorer.score([sample.image for sample in samples], prompt.text)
            for sample, score in zip(samples, scores):
                file = image_path(strategy, index, prompt.text, sample.seed)
                path = os.path.join(out_dir, *file.split("/"))
                os.makedirs(os.path.dirname(path), exist_ok=True)
                sample.image.save(path)
                items.append(
                    ScoredImage(strategy, prompt.group, prompt.text, sample.seed, file, sample.negative,
                                sample.caption, sample.error, score)
                )  # fmt: skip
    return items
