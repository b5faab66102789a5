"""Timing of one setup: every scenario in one process, round-robin over the repeats, through the product code.

Scenarios (each one `generate` call of the diffusers front end, or one of its parts alone):
  plain             the user's generation alone (DNP off)
  faithful          auto-DNP, preset faithful: DNS pass + captioning + DNP pass
  fast              auto-DNP, preset fast
  cache_hit         faithful again with the DNS cache holding this prompt, seed and DNS settings
  dns_alone         the faithful DNS pass alone (`sample_dns`)
  fast_dns_alone    the fast preset's DNS pass alone
  caption_alone     captioning the batch's DNS images alone
  faithful_offload  faithful, with the captioner moved off the GPU before the DNP pass, as --medvram/--lowvram
                    do (GPU only)
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.models import Setup
from lib_dnp.cache import DnsCache
from lib_dnp.frontends.diffusers_frontend import generate, sample_dns
from lib_dnp.frontends.settings import DEFAULT_CFG
from lib_dnp.params import dns_size, dns_steps, parse_params

PROMPT = "a photo of a red car parked on a street"
BASE_SEED = 1234


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def reset_rss_peak() -> bool:
    """Reset the process's resident-memory high-water mark (Linux: /proc/self/clear_refs); False where that is not
    possible, and then no CPU peak is reported."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def rss_peak_bytes() -> int | None:
    """The process's resident-memory high-water mark since the last reset (VmHWM), or None."""
    try:
        with open("/proc/self/status") as status:
            found = re.search(r"^VmHWM:\s+(\d+) kB", status.read(), re.MULTILINE)
    except OSError:
        return None
    return int(found.group(1)) * 1024 if found else None


class Runner:
    """Runs the scenarios of one setup and records seconds, the process's peak resident memory (CPU RSS, where
    the OS lets it be reset per run) and, on CUDA, peak GPU memory per run."""

    def __init__(self, setup: Setup):
        self.setup = setup
        self.seeds = [BASE_SEED + i for i in range(setup.batch)]
        self.faithful = parse_params({"enabled": True, "preset": "faithful", "cache": False})
        self.fast = parse_params({"enabled": True, "preset": "fast", "cache": False})
        self.cached = parse_params({"enabled": True, "preset": "faithful", "cache": True})
        self.cache = DnsCache(max_images=64)
        self.dns_images: list[Any] = []
        self.checks: dict[str, Any] = {}
        self.scenarios: dict[str, Callable[[], Any]] = {
            "plain": lambda: self._generate(parse_params({"enabled": False})),
            "faithful": lambda: self._generate(self.faithful),
            "fast": lambda: self._generate(self.fast),
            "cache_hit": self._cache_hit,
            "dns_alone": lambda: self._dns(self.faithful),
            "fast_dns_alone": lambda: self._dns(self.fast),
            "caption_alone": lambda: self.setup.captioner.caption(self.dns_images),
        }
        if setup.device == "cuda":  # today's `generate` decode beside the fast one
            self.scenarios["caption_generate"] = self._caption_generate

    def _generate(self, params: Any, cache: DnsCache | None = None, on_stage: Any = None) -> Any:
        s = self.setup
        return generate(
            s.pipe, PROMPT, self.seeds, steps=s.steps, cfg=DEFAULT_CFG, width=s.width, height=s.height,
            params=params, captioner=s.captioner, cache=cache, plain=False, progress=False, on_stage=on_stage,
        )  # fmt: skip

    def _dns(self, params: Any) -> list[Any]:
        s = self.setup
        width, height = dns_size(params, s.width, s.height)
        return sample_dns(
            s.pipe, [PROMPT] * s.batch, self.seeds, steps=dns_steps(params, s.steps), scale=DEFAULT_CFG,
            width=width, height=height, progress=False,
        )  # fmt: skip

    def _cache_hit(self) -> Any:
        result = self._generate(self.cached, self.cache)
        # A hit skips the DNS pass and the captioner: neither shows up in the timings.
        self.checks["cache_hit_skipped_dns_and_caption"] = "dns" not in result.timings and (
            "caption" not in result.timings
        )
        return result

    def _caption_generate(self) -> list[str]:
        captioner = self.setup.captioner
        captioner.fast_decode = False
        try:
            captions = captioner.caption(self.dns_images)
        finally:
            captioner.fast_decode = None
        return captions

    def _faithful_offload(self) -> Any:
        captioner = self.setup.captioner

        def on_stage(stage: str, count: int) -> None:
            if stage == "dnp":  # what lib_dnp.webui.runtime.after_captioning does under --medvram/--lowvram
                captioner.offload()
                self.checks["captioner_on_gpu_during_dnp_pass_offload"] = _on_gpu(captioner)
            elif stage == "dns":
                self.checks["captioner_on_gpu_during_dns_pass_offload"] = _on_gpu(captioner)

        result = self._generate(self.faithful, on_stage=on_stage)
        captioner.offload()  # as the WebUI leaves it for the next generation
        return result

    def prepare(self) -> None:
        """One untimed round: loads the captioner, fills the cache, warms kernels and captures graphs."""
        self.dns_images = self._dns(self.faithful)
        self.cache.clear()
        self._generate(self.cached, self.cache)  # the run the cache hit re-runs
        for run in self.scenarios.values():
            run()
        if "caption_generate" in self.scenarios:
            fast = self.setup.captioner.caption(self.dns_images)
            self.checks["fast_captions_equal_generate"] = fast == self._caption_generate()

    def time_once(self, name: str) -> tuple[float, int | None, int | None]:
        peak = None
        rss_reset = reset_rss_peak()
        if self.setup.device == "cuda":
            import torch

            torch.cuda.reset_peak_memory_stats()
        _sync(self.setup.device)
        start = time.perf_counter()
        self.scenarios[name]()
        _sync(self.setup.device)
        seconds = time.perf_counter() - start
        if self.setup.device == "cuda":
            import torch

            peak = int(torch.cuda.max_memory_allocated())
        return seconds, peak, rss_peak_bytes() if rss_reset else None

    def run(self, repeats: int) -> dict[str, Any]:
        """Median seconds and peak bytes per scenario; the order rotates each round so that no scenario always
        follows the same one. The captioner stays on the device throughout (the default), except in
        `faithful_offload`, which runs last because it moves the captioner off the GPU after each run."""
        self.prepare()
        names = list(self.scenarios)
        seconds: dict[str, list[float]] = {name: [] for name in names}
        peaks: dict[str, list[int]] = {name: [] for name in names}
        rss_peaks: dict[str, list[int]] = {name: [] for name in names}
        for round_index in range(repeats):
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                elapsed, peak, rss_peak = self.time_once(name)
                seconds[name].append(elapsed)
                if peak is not None:
                    peaks[name].append(peak)
                if rss_peak is not None:
                    rss_peaks[name].append(rss_peak)
        if self.setup.device == "cuda":
            self.scenarios["faithful_offload"] = self._faithful_offload
            self.checks["captioner_bytes"] = captioner_bytes(self.setup.captioner)
            self._faithful_offload()  # untimed: the captioner starts each timed run off the GPU
            seconds["faithful_offload"], peaks["faithful_offload"], rss_peaks["faithful_offload"] = [], [], []
            for _ in range(repeats):
                elapsed, peak, rss_peak = self.time_once("faithful_offload")
                seconds["faithful_offload"].append(elapsed)
                peaks["faithful_offload"].append(peak or 0)
                if rss_peak is not None:
                    rss_peaks["faithful_offload"].append(rss_peak)
        return {
            "seconds": seconds,
            "median_s": {name: statistics.median(values) for name, values in seconds.items()},
            "peak_bytes": {name: max(values) for name, values in peaks.items() if values},
            "peak_rss_bytes": {name: max(values) for name, values in rss_peaks.items() if values},
            "checks": dict(self.checks),
        }


def _on_gpu(captioner: Any) -> bool:
    placement = getattr(captioner, "_placement", None)
    return bool(captioner.loaded and placement is not None and placement[0].type == "cuda")


def captioner_bytes(captioner: Any) -> int:
    model = getattr(captioner, "_model", None)
    if model is None:
        return 0
    return sum(p.numel() * p.element_size() for p in model.parameters())
