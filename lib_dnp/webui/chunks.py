"""How many 75-token chunks the WebUI encodes a negative prompt into, counted by the WebUI's own chunker.

A1111 and Forge differ only in where that chunker lives (`platform.prompt_chunker`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lib_dnp.webui import platform


def _total_steps(sampler_name: str, steps: int) -> int:
    from modules import sd_samplers

    config = sd_samplers.find_sampler_config(sampler_name)
    return config.total_steps(steps) if config else steps


def chunk_counter(steps: int, hires_steps: int | None = None) -> Callable[[str], int]:
    """text → its chunk count for the uncond of a pass of `steps` (and `hires_steps`) sampler steps.

    A negative with prompt editing (`[a:b:0.5]`) is encoded as one batch of its scheduled texts, padded to the
    longest, so its chunk count is the most any of those texts has; the schedule is the one the WebUI builds.
    """
    from modules import prompt_parser, shared

    engine = platform.prompt_chunker()

    def count(text: str) -> int:
        (schedule,) = prompt_parser.get_learned_conditioning_prompt_schedules(
            [text], steps, hires_steps, shared.opts.use_old_scheduling
        )
        batch_chunks, _ = engine.process_texts([scheduled for _, scheduled in schedule])
        return max(len(chunks) for chunks in batch_chunks)

    return count


def main_counter(p: Any) -> Callable[[str], int]:
    """The counter for the negatives of the main pass (`processing.setup_conds`)."""
    return chunk_counter(_total_steps(p.sampler_name, p.steps))


def hires_counter(p: Any) -> Callable[[str], int]:
    """The counter for the negatives of the hires pass (`processing.calculate_hr_conds`)."""
    hires_steps = p.hr_second_pass_steps or p.steps
    return chunk_counter(
        _total_steps(p.sampler_name, p.steps),
        _total_steps(getattr(p, "hr_sampler_name", None) or p.sampler_name, hires_steps),
    )
