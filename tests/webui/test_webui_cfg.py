"""eq. 19 through the WebUI's own CFG arithmetic: `CFGDenoiser.combine_denoised`, the code that combines the
UNet's cond and uncond predictions in every A1111 sampler, run in the WebUI's python on tensors.

The DNS pass swaps the conds in the CFG-denoiser callback (`lib_dnp.guidance.swap_conds`) and samples at CFG
s + 1 (`swapped_cfg_scale`); the WebUI then combines the rows it evaluated. This proves that combination is
eq. 19 at s (`lib_dnp.guidance.dns`, checked against hand-computed values in tests/test_guidance.py) for a batch
of images with different predictions, and that the plain CFG of the same predictions is not. The images of the
whole pass are proven in test_dnp.py::test_dns_image_is_eq20_with_scale_plus_one.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Runs in the WebUI's folder with its python; imports the WebUI the way it imports itself (options first, then
# processing, whose import settles the samplers' circular imports), but loads no model and starts no server.
SCRIPT = r"""
import json
import torch
from modules import shared_init
shared_init.initialize()
from modules import processing  # noqa: F401
from modules.sd_samplers_cfg_denoiser import CFGDenoiser
from lib_dnp.guidance import dns, swap_conds, swapped_cfg_scale

torch.manual_seed(0)
batch = 3
eps_prompt, eps_empty = torch.randn(batch, 4, 8, 8), torch.randn(batch, 4, 8, 8)
conds_list = [[(i, 1.0)] for i in range(batch)]  # one cond row per image, weight 1 (no AND)
found = {}
for s in (1.0, 5.0, 7.5):
    # The denoiser evaluates its cond rows, then its uncond rows; after the swap the cond rows hold the empty
    # prompt and the uncond rows the user's prompt, so the predictions come back in that order.
    cond_rows, uncond_rows = swap_conds(eps_prompt, eps_empty)
    x_out = torch.cat([cond_rows, uncond_rows])
    combined = CFGDenoiser.combine_denoised(None, x_out, conds_list, uncond_rows, swapped_cfg_scale(s))
    plain = CFGDenoiser.combine_denoised(None, torch.cat([eps_prompt, eps_empty]), conds_list, eps_empty, s)
    expected = dns(eps_empty, eps_prompt, s)
    found[s] = [float((combined - expected).abs().max()), float((plain - expected).abs().max())]
print("DNP-RESULT " + json.dumps(found))
"""


def run_in_webui(webui_assets, script: str, *args: str) -> dict:
    """Run `script` with the WebUI's python in its folder (this repository importable); its DNP-RESULT line."""
    env = {**os.environ, **webui_assets.extra_env, "PYTHONPATH": str(REPO)}
    run = subprocess.run(
        [str(webui_assets.python), "-c", script, *args],
        cwd=webui_assets.webui_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in run.stdout.splitlines() if line.startswith("DNP-RESULT ")]
    assert run.returncode == 0 and lines, run.stdout[-2000:] + run.stderr[-4000:]
    return json.loads(lines[-1].removeprefix("DNP-RESULT "))


def assert_eq19_at_s_plus_one(found: dict) -> None:
    """`found`: scale -> [max error of the WebUI's combination at s + 1 from eq. 19, max gap of plain CFG at s]."""
    assert set(found) == {"1.0", "5.0", "7.5"}
    for scale, (error, plain_gap) in found.items():
        assert error < 1e-5, (scale, error)  # the WebUI's combination at s + 1 is eq. 19 at s
        assert plain_gap > 0.5, (scale, plain_gap)  # and the check has teeth: plain CFG is not eq. 19


def test_webui_cfg_combination_at_s_plus_one_on_swapped_conds_is_eq19(webui_assets):
    assert_eq19_at_s_plus_one(run_in_webui(webui_assets, SCRIPT))
