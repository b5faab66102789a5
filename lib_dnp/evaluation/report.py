"""What `evaluate` writes: per-image and per-prompt CSVs, a summary (markdown table and JSON) and a plot.

Means follow A&E: full-prompt and CLIPScore over all images; min-object over the images whose prompt splits
into objects (`prompts.object_parts`).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lib_dnp.evaluation.scoring import ImageScores, mean, standard_error

METRICS = (
    ("full_prompt", "full-prompt CLIP (A&E)"),
    ("min_object", "min-object CLIP (A&E)"),
    ("clip_score", "CLIPScore (Hessel)"),
)
IMAGE_COLUMNS = ("strategy", "group", "prompt", "seed", "file", "negative", "caption", "error",
                 "full_prompt", "min_object", "clip_score")  # fmt: skip


@dataclass
class ScoredImage:
    strategy: str
    group: str
    prompt: str
    seed: int
    file: str  # relative to the output folder
    negative: str
    caption: str | None
    error: str | None
    scores: ImageScores

    def row(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy, "group": self.group, "prompt": self.prompt, "seed": self.seed,
            "file": self.file, "negative": self.negative, "caption": self.caption or "", "error": self.error or "",
            "full_prompt": self.scores.full_prompt,
            "min_object": "" if self.scores.min_object is None else self.scores.min_object,
            "clip_score": self.scores.clip_score,
        }  # fmt: skip


def _write_csv(path: str, columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)


def _ordered(items: Sequence[ScoredImage], attribute: str) -> list[str]:
    return list(dict.fromkeys(getattr(item, attribute) for item in items))


def _stats(items: Sequence[ScoredImage]) -> dict[str, Any]:
    stats: dict[str, Any] = {"images": len(items)}
    for metric, _ in METRICS:
        values = [getattr(item.scores, metric) for item in items]
        stats[metric] = mean(values)
        stats[f"{metric}_se"] = standard_error(values)
    stats["dnp_errors"] = sum(1 for item in items if item.error)
    return stats


def prompt_rows(items: Sequence[ScoredImage]) -> list[dict[str, Any]]:
    """One row per strategy and prompt: its means over seeds."""
    rows = []
    for strategy in _ordered(items, "strategy"):
        for prompt in _ordered(items, "prompt"):
            chosen = [i for i in items if i.strategy == strategy and i.prompt == prompt]
            if chosen:
                stats = _stats(chosen)
                rows.append({"strategy": strategy, "group": chosen[0].group, "prompt": prompt,
                             **{k: stats[k] for k in ("images", *(m for m, _ in METRICS))}})  # fmt: skip
    return rows


def summary(items: Sequence[ScoredImage]) -> list[dict[str, Any]]:
    """One entry per strategy, in the order they were run: image count, mean and standard error of each score,
    and how many images DNP failed for."""
    return [
        {"strategy": strategy, **_stats([i for i in items if i.strategy == strategy])}
        for strategy in _ordered(items, "strategy")
    ]


def _number(value: float | None, error: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.4f}" + (f" ± {error:.4f}" if error is not None else "")


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """The summary as a markdown table (mean ± standard error)."""
    header = "| strategy | images | " + " | ".join(label for _, label in METRICS) + " | DNP errors |"
    lines = [header, "|---|---:|" + "---:|" * len(METRICS) + "---:|"]
    for row in rows:
        cells = [_number(row[metric], row[f"{metric}_se"]) for metric, _ in METRICS]
        lines.append(
            f"| {row['strategy']} | {row['images']} | " + " | ".join(cells) + f" | {row['dnp_errors']} |"
        )
    return "\n".join(lines)


def plot(rows: Sequence[dict[str, Any]], title: str, path: str) -> bool:
    """A bar chart per score (mean ± standard error per strategy) as PNG; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display needed, and never a GUI window from a CLI
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axes = plt.subplots(1, len(METRICS), figsize=(4 * len(METRICS), 3.6), squeeze=False)
    names = [row["strategy"] for row in rows]
    for axis, (metric, label) in zip(axes[0], METRICS):
        values = [row[metric] if row[metric] is not None else 0.0 for row in rows]
        errors = [row[f"{metric}_se"] or 0.0 for row in rows]
        axis.bar(range(len(rows)), values, yerr=errors, capsize=4, color=[f"C{i}" for i in range(len(rows))])
        axis.set_xticks(range(len(rows)), names, rotation=20, ha="right")
        axis.set_title(label, fontsize=10)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


def write_report(out_dir: str, items: Sequence[ScoredImage], record: dict[str, Any]) -> dict[str, str]:
    """Write images.csv, prompts.csv, summary.md, summary.json and summary.png (if matplotlib is installed) into
    `out_dir`; return their paths by name."""
    os.makedirs(out_dir, exist_ok=True)
    paths = {name: os.path.join(out_dir, name) for name in
             ("images.csv", "prompts.csv", "summary.md", "summary.json", "summary.png")}  # fmt: skip
    _write_csv(paths["images.csv"], IMAGE_COLUMNS, [item.row() for item in items])
    rows = prompt_rows(items)
    _write_csv(paths["prompts.csv"], list(rows[0]) if rows else ["strategy"], rows)
    table = summary(items)
    with open(paths["summary.md"], "w", encoding="utf-8") as file:
        file.write(
            markdown_table(table)
            + "\n\n"
            + "\n".join(f"- {k}: {v}" for k, v in record["notes"].items())
            + "\n"
        )
    with open(paths["summary.json"], "w", encoding="utf-8") as file:
        json.dump({**record, "summary": table}, file, indent=2, ensure_ascii=False)
        file.write("\n")
    if not plot(table, record.get("title", "DNP evaluation"), paths["summary.png"]):
        del paths["summary.png"]
    return paths
