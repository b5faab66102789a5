"""`python -m lib_dnp evaluate --webui URL` against a real WebUI (issue 8, part 2): the harness scores what the
WebUI made, and its DNP images carry the captions the WebUI reported."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

from .harness import REPO_ROOT


def test_evaluate_through_the_webui_api(webui, webui_assets, tmp_path):
    captioner = str(webui_assets.require("tiny_captioner"))
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a cat and a dog\na red car\n")
    out = tmp_path / "eval"
    command = [
        sys.executable, "-m", "lib_dnp", "evaluate", "--webui", webui.url, "--prompts", str(prompts),
        "--seeds", "2", "--steps", "3", "--width", "64", "--height", "64", "--batch-size", "2",
        "--strategies", "empty", "dnp", "--clip", "tiny", "--captioner", captioner, "--out", str(out),
        "--device", "cpu",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = list(csv.DictReader((out / "images.csv").open()))
    assert len(rows) == 2 * 2 * 2  # prompts × seeds × strategies
    dnp_rows = [row for row in rows if row["strategy"] == "dnp"]
    assert all(row["negative"] and not row["error"] for row in dnp_rows), dnp_rows
    # the negatives the harness recorded are the ones the WebUI reports for the same request (seeds 0 and 1 of the
    # first prompt, one batch, the harness's CFG 7.5)
    first = [row for row in dnp_rows if row["prompt"] == "a cat and a dog"]
    again = webui.txt2img(
        prompt="a cat and a dog", seed=0, batch_size=2, steps=3, width=64, height=64, cfg_scale=7.5,
        alwayson_scripts={"DNP": {"args": [{"enabled": True, "captioner": captioner}]}},
    )  # fmt: skip
    by_seed = {int(row["seed"]): row["negative"] for row in first}
    assert webui.info(again)["all_negative_prompts"] == [by_seed[0], by_seed[1]]
    summary = json.loads((out / "summary.json").read_text())
    assert summary and (out / "summary.png").stat().st_size > 0
