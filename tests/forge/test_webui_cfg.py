"""eq. 19 through Forge's own CFG arithmetic: `sampling_function_inner` (backend/sampling/sampling_function.py), the
code that combines the UNet's cond and uncond predictions in every Forge sampler, run in Forge's python on tensors.

The A1111 test calls `CFGDenoiser.combine_denoised`, which Forge keeps (with three more arguments) but never calls:
Forge's `CFGDenoiser.forward` hands the conds to `sampling_function`, whose inner function evaluates them
(`calc_cond_uncond_batch`) and combines the two predictions. Here the evaluation returns given predictions, the rows
the swapped conds (`lib_dnp.guidance.swap_conds`) would give, so what is checked is Forge's combination at s + 1,
CFG-1 shortcut included (s + 1 >= 2 never takes it).
"""

from __future__ import annotations

from webui.test_webui_cfg import assert_eq19_at_s_plus_one, run_in_webui

# Forge's options parse the script's argv: --always-cpu, as the suite's Forge servers start (no GPU needed)
SCRIPT = r"""
import json
import torch
from modules import shared_init
shared_init.initialize()
from modules import processing  # noqa: F401
from backend.sampling import sampling_function
from lib_dnp.guidance import dns, swap_conds, swapped_cfg_scale

torch.manual_seed(0)
batch = 3
eps_prompt, eps_empty = torch.randn(batch, 4, 8, 8), torch.randn(batch, 4, 8, 8)
x, sigma = torch.randn(batch, 4, 8, 8), torch.ones(batch)
cond, uncond = [{"strength": 1.0}], [{}]  # compile_weighted_conditions' shape: one entry of weight 1 (no AND)


def combine(cond_pred, uncond_pred, scale):
    sampling_function.calc_cond_uncond_batch = lambda *args: (cond_pred, uncond_pred)
    return sampling_function.sampling_function_inner(None, x, sigma, uncond, cond, scale, {})


found = {}
for s in (1.0, 5.0, 7.5):
    combined = combine(*swap_conds(eps_prompt, eps_empty), swapped_cfg_scale(s))
    plain = combine(eps_prompt, eps_empty, s)
    expected = dns(eps_empty, eps_prompt, s)
    found[s] = [float((combined - expected).abs().max()), float((plain - expected).abs().max())]
print("DNP-RESULT " + json.dumps(found))
"""


def test_forge_cfg_combination_at_s_plus_one_on_swapped_conds_is_eq19(webui_assets):
    assert_eq19_at_s_plus_one(run_in_webui(webui_assets, SCRIPT, "--always-cpu"))
