"""DNP's work in the WebUI's progress bar: each stage labelled, one percentage for the whole job that only grows.

The WebUI computes the percentage from `shared.state` (modules/progress.py): `job_no / job_count` plus the
current job's share of sampling steps; the browser shows `textinfo` beside it and the API reports `job`. The DNS
pass samples through `process_images`, which ends each of its batches with `state.nextjob()`, so the DNS batches
and the captioning become jobs of their own *before* the main pass's, in one count: the main pass then continues
from where DNP stopped instead of starting again at 0 %.
"""

from __future__ import annotations

from typing import Any

DNS_JOB = "DNP: diffusion-negative pass"
CAPTION_JOB = "DNP: captioning"
MAIN_JOB = "DNP: main pass, with the DNS captions as negative prompt"


def images(count: int) -> str:
    return f"{count} image" if count == 1 else f"{count} images"


def hires_counts_twice(p: Any, state: Any) -> bool:
    """Whether the WebUI's hires set-up (txt2img init, after `process`) will double the job count."""
    return bool(getattr(p, "enable_hr", False)) and not state.processing_has_refined_job_count


def main_jobs(p: Any, state: Any) -> int:
    """Jobs of the main pass as the WebUI counts them: n_iter, each twice with hires fix (whether the WebUI's
    txt2img set-up has doubled its count already, as before the first batch, or not yet)."""
    return int(getattr(p, "n_iter", 1) or 1) * (2 if getattr(p, "enable_hr", False) else 1)


class Stages:
    """`run_batch`'s on_stage for one generation, and the hand-over to the main pass."""

    def __init__(self, state: Any, main_jobs: int, batch_size: int) -> None:
        self.state = state
        self.main_jobs = main_jobs
        self.batch_size = max(1, batch_size)
        # job_count -1 means "not counted yet"; before the first batch the WebUI has counted this job's own jobs
        # (main_jobs) and done none. Anything else is a count someone else owns (the X/Y/Z plot counts all its
        # cells): then DNP only labels its stages.
        self.owned_elsewhere = not (
            state.job_count == -1 or (state.job_count == main_jobs and state.job_no == 0)
        )
        self.saved_job_no = state.job_no
        self.reserved = 0  # jobs DNP takes before the main pass
        self.started = False

    def on_stage(self, stage: str, count: int) -> None:
        state = self.state
        if stage == "dns":
            self._reserve(-(-count // self.batch_size) + 1)  # the DNS batches, then one for captioning
            state.job = DNS_JOB
            state.textinfo = f"{DNS_JOB}: {images(count)}"
        else:
            self._reserve(1)
            if not self.owned_elsewhere:
                state.job_no = self.reserved - 1  # any DNS batches are done; captioning is the last DNP job
            state.job = CAPTION_JOB
            state.textinfo = f"{CAPTION_JOB}: {images(count)}"

    def _reserve(self, jobs: int) -> None:
        if self.started or self.owned_elsewhere:
            self.started = True
            return
        self.started, self.reserved = True, jobs
        self.state.job_count, self.state.job_no = jobs + self.main_jobs, 0

    def main_pass(self, p: Any) -> None:
        """Leave the count so that the main pass goes on from DNP's share; label it."""
        state = self.state
        if not self.started:
            return  # nothing to do (manual captions, or everything cached): the job is the WebUI's own
        state.job = ""
        state.textinfo = MAIN_JOB
        state.sampling_step = 0
        if self.owned_elsewhere:
            state.job_no = self.saved_job_no  # the DNS pass's own batches are not the owner's jobs
            return
        if hires_counts_twice(p, state):
            # It would double the whole count, DNP's jobs included, and so halve the percentage; the count
            # (main_jobs) has both passes already, so tell it the count is final. Only the console's total
            # progress bar, which that set-up also sizes, keeps its earlier total.
            state.processing_has_refined_job_count = True
        state.job_count, state.job_no = self.reserved + self.main_jobs, self.reserved
