"""DNS guidance (eq. 19) against hand-computed values, the cond swap, composable prompts.

That the swap route (conds swapped, CFG at s + 1) samples eq. 19 is proven against the samplers' own CFG code, not
against a CFG written here: the WebUI's `CFGDenoiser.combine_denoised` in tests/webui/test_webui_cfg.py, whole DNS
images in tests/webui/test_dnp.py, and diffusers' pipeline in tests/test_diffusers_frontend.py.
"""

from __future__ import annotations

import pytest
import torch

from lib_dnp.guidance import (
    CondMismatchError,
    cond_rows,
    dns,
    flatten_composable,
    is_composable,
    swap_conds,
    swapped_cfg_scale,
)


def test_dns_hand_computed():
    eps_empty = torch.tensor([1.0, -2.0, 0.5])
    eps_prompt = torch.tensor([3.0, 1.0, 0.5])
    # 1 + 7*(1-3) = -13 ; -2 + 7*(-2-1) = -23 ; 0.5 + 7*0 = 0.5
    assert torch.equal(dns(eps_empty, eps_prompt, 7.0), torch.tensor([-13.0, -23.0, 0.5]))


def test_the_swapped_pass_runs_at_cfg_s_plus_one():
    assert swapped_cfg_scale(4.0) == 5.0 and swapped_cfg_scale(7.5) == 8.5


def test_dns_at_scale_zero_is_the_unconditional_prediction():
    a, b = torch.randn(4), torch.randn(4)
    assert torch.equal(dns(a, b, 0.0), a)


def test_swap_tensor_conds():
    cond, uncond = torch.ones(2, 77, 8), torch.zeros(2, 77, 8)
    new_cond, new_uncond = swap_conds(cond, uncond)
    assert new_cond is uncond and new_uncond is cond


def test_swap_sdxl_dict_conds():
    cond = {"crossattn": torch.ones(2, 77, 64), "vector": torch.ones(2, 1568)}
    uncond = {"crossattn": torch.zeros(2, 77, 64), "vector": torch.zeros(2, 1568)}
    new_cond, new_uncond = swap_conds(cond, uncond)
    assert new_cond is uncond and new_uncond is cond
    assert cond_rows(cond) == 2


def test_swap_refuses_composable_rows():
    with pytest.raises(CondMismatchError, match="2 and 1"):
        swap_conds(torch.ones(2, 77, 8), torch.zeros(1, 77, 8))


def test_swap_allows_different_token_lengths():
    new_cond, new_uncond = swap_conds(torch.ones(1, 154, 8), torch.zeros(1, 77, 8))
    assert new_cond.shape[1] == 77 and new_uncond.shape[1] == 154


@pytest.mark.parametrize(
    ("prompt", "composable", "flat"),
    [
        ("a cat AND a dog", True, "a cat, a dog"),
        ("a cat :1.2 AND a dog:0.5", True, "a cat, a dog"),
        ("ANDROID robot", False, "ANDROID robot"),
        ("sand and sea", False, "sand and sea"),
    ],
)
def test_composable_prompts(prompt, composable, flat):
    assert is_composable(prompt) is composable
    assert flatten_composable(prompt) == flat
