"""DNS guidance (eq. 19) against hand-computed values, the cond swap, and the swap route on a tiny UNet."""

from __future__ import annotations

import pytest
import torch

from lib_dnp.guidance import (
    CondMismatchError,
    cfg,
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


def test_cfg_hand_computed():
    assert cfg(torch.tensor([1.0]), torch.tensor([3.0]), 7.5).item() == pytest.approx(16.0)


def test_dns_is_cfg_with_roles_swapped():
    a, b = torch.randn(5), torch.randn(5)
    assert torch.allclose(dns(a, b, 4.0), cfg(b, a, 5.0))
    assert swapped_cfg_scale(4.0) == 5.0


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


@pytest.fixture(scope="module")
def tiny_unet():
    diffusers = pytest.importorskip("diffusers")
    torch.manual_seed(0)
    unet = diffusers.UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=8,
        norm_num_groups=32,
    ).eval()
    return unet


def euler(x, sigmas, eps_fn):
    for sigma, sigma_next in zip(sigmas[:-1], sigmas[1:]):
        x = x + (sigma_next - sigma) * eps_fn(x / (sigma**2 + 1) ** 0.5, sigma)
    return x


@torch.inference_mode()
def test_swap_route_matches_eq19_on_a_tiny_unet(tiny_unet):
    """What the WebUI front end does (swap conds, CFG at s+1) samples the same image as eq. 19 at s."""
    torch.manual_seed(1)
    empty, prompt = torch.randn(1, 6, 16), torch.randn(1, 6, 16)
    x0 = torch.randn(1, 4, 8, 8) * 14.6
    sigmas = torch.tensor([14.6, 6.0, 2.0, 0.5, 0.0])
    s = 6.0

    def predict(x, sigma, cond):
        t = torch.full((x.shape[0],), float(sigma) * 50)
        return tiny_unet(x, t, encoder_hidden_states=cond).sample

    def eq19(x, sigma):
        return dns(predict(x, sigma, empty), predict(x, sigma, prompt), s)

    def webui_like(x, sigma):
        # The sampler batches [cond, uncond] and combines with CFG; the callback swapped what goes in.
        text_cond, text_uncond = swap_conds(prompt, empty)
        out = predict(torch.cat([x, x]), sigma, torch.cat([text_cond, text_uncond]))
        return cfg(out[1:], out[:1], swapped_cfg_scale(s))

    a = euler(x0, sigmas, eq19)
    b = euler(x0, sigmas, webui_like)
    plain = euler(x0, sigmas, lambda x, sigma: cfg(predict(x, sigma, empty), predict(x, sigma, prompt), s))
    assert torch.allclose(a, b, atol=1e-4, rtol=1e-4)
    # The check has teeth: the prompt changes the prediction, so DNS differs from CFG here.
    assert (a - plain).abs().max() > 1e-2
