"""Ratios, targets (issue 6) and the printed table of a benchmark run."""

from __future__ import annotations

from typing import Any

# Target limits of issue 6. Ratios hold on any device; the fast preset's and the caption's only on a GPU, with
# real-size models (a tiny model's time is mostly fixed overhead).
FAITHFUL_LIMIT = 1.03
CACHE_HIT_LIMIT = 1.02
FAST_LIMITS = {"SD1.5": 1.6, "SDXL": 1.35}
CAPTION_LIMIT_S = 0.1
STARTUP_LIMIT_S = 0.3


def ratios(median_s: dict[str, float]) -> dict[str, float]:
    m = median_s
    result = {
        "faithful / (plain + dns_alone + caption_alone)": m["faithful"]
        / (m["plain"] + m["dns_alone"] + m["caption_alone"]),
        "fast / plain": m["fast"] / m["plain"],
        "cache_hit / plain": m["cache_hit"] / m["plain"],
        "faithful / plain": m["faithful"] / m["plain"],
    }
    if "caption_generate" in m:
        result["caption_generate / caption_alone"] = m["caption_generate"] / m["caption_alone"]
    return result


def _target(name: str, value: float | bool, limit: float | bool) -> dict[str, Any]:
    passed = value is limit if isinstance(limit, bool) else value <= limit
    return {"name": name, "value": value, "limit": limit, "passed": bool(passed)}


def targets(setup: dict[str, Any]) -> list[dict[str, Any]]:
    r, m, checks = setup["ratios"], setup["median_s"], setup["checks"]
    found = [
        _target("faithful / (plain + DNS + caption) <= 1.03", r["faithful / (plain + dns_alone + caption_alone)"],
                FAITHFUL_LIMIT),
        _target("cache hit / plain <= 1.02", r["cache_hit / plain"], CACHE_HIT_LIMIT),
        _target("cache hit skipped DNS and captioning", checks.get("cache_hit_skipped_dns_and_caption"), True),
    ]  # fmt: skip
    if setup["device"] != "cuda":
        return found
    for family, limit in FAST_LIMITS.items():
        if setup["name"].startswith(family):
            found.append(_target(f"fast / plain <= {limit}", r["fast / plain"], limit))
    if setup["batch"] == 1:
        found.append(_target("caption 30 tokens <= 0.1 s", m["caption_alone"], CAPTION_LIMIT_S))
    found.append(_target("fast captions == generate's", checks.get("fast_captions_equal_generate"), True))
    peaks, weights = setup["peak_bytes"], checks["captioner_bytes"]
    # The captioner sits on the GPU through the default runs, so a plain generation without it peaks at
    # peak(plain) - weights; faithful may add at most the weights to that.
    above_plain = peaks["faithful"] - (peaks["plain"] - weights)
    found.append(_target("peak above plain <= captioner weights (GiB)", above_plain / 2**30, weights / 2**30))
    for stage in ("dns", "dnp"):
        key = f"captioner_on_gpu_during_{stage}_pass_offload"
        found.append(_target(f"--medvram: captioner off the GPU during the {stage.upper()} pass",
                             checks.get(key), False))  # fmt: skip
    return found


def startup_targets(startup: dict[str, Any]) -> list[dict[str, Any]]:
    found = [_target("lib_dnp.webui imports <= 0.3 s", startup["lib_dnp"]["seconds"], STARTUP_LIMIT_S)]
    if "webui_script" in startup:
        found.append(_target("scripts/dnp.py in the WebUI <= 0.3 s", startup["webui_script"]["seconds"],
                             STARTUP_LIMIT_S))  # fmt: skip
    return found


def table(result: dict[str, Any]) -> str:
    lines = [f"DNP benchmark {result['date']} on {result['machine']['device']} ({result['repeats']} repeats)"]
    for setup in result["setups"]:
        lines.append("")
        lines.append(f"{setup['name']}: {setup['width']}x{setup['height']}, {setup['steps']} steps, "
                     f"batch {setup['batch']}")  # fmt: skip
        lines.append("| scenario | median s | peak GPU GiB | peak CPU RSS MiB |")
        lines.append("|---|---|---|---|")
        rss_peaks = setup.get("peak_rss_bytes", {})
        for name, seconds in setup["median_s"].items():
            peak, rss = setup["peak_bytes"].get(name), rss_peaks.get(name)
            gpu = "" if peak is None else f"{peak / 2**30:.2f}"
            cpu = "" if rss is None else f"{rss / 2**20:.0f}"
            lines.append(f"| {name} | {seconds:.4f} | {gpu} | {cpu} |")
        lines.extend(f"| ratio {name} | {value:.3f} | | |" for name, value in setup["ratios"].items())
        lines.extend(_target_line(target) for target in setup["targets"])
    startup = result.get("startup")
    if startup:
        lines.append("")
        lines.append(f"start-up: lib_dnp.webui imports {startup['lib_dnp']['seconds']:.3f} s, new packages: "
                     f"{', '.join(startup['lib_dnp']['new_packages']) or 'none'}")  # fmt: skip
        lines.extend(_target_line(target) for target in startup["targets"])
    return "\n".join(lines)


def _target_line(target: dict[str, Any]) -> str:
    value = target["value"]
    shown = f"{value:.3f}" if isinstance(value, float) else str(value)
    return f"  [{'PASS' if target['passed'] else 'FAIL'}] {target['name']}: {shown}"
