"""lib_dnp.webui.peers: ControlNet's UNet hook is set aside for the DNS pass and put back after it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from lib_dnp.webui.peers import controlnet_paused


class Unet:
    def forward(self, x: str) -> str:
        return f"unet({x})"


def hooked_model() -> tuple[SimpleNamespace, Unet]:
    """A model whose UNet is hooked the way sd-webui-controlnet's UnetHook.hook leaves it."""
    unet = Unet()
    unet._original_forward = unet.forward
    unet.forward = lambda x: f"controlnet({unet._original_forward(x)})"
    return SimpleNamespace(model=SimpleNamespace(diffusion_model=unet)), unet


def test_hooked_unet_runs_unhooked_inside_and_hooked_after():
    model, unet = hooked_model()
    assert unet.forward("x") == "controlnet(unet(x))"
    with controlnet_paused(model):
        assert unet.forward("x") == "unet(x)"
    assert unet.forward("x") == "controlnet(unet(x))"


def test_hook_is_put_back_when_the_pass_fails():
    model, unet = hooked_model()
    with pytest.raises(RuntimeError), controlnet_paused(model):
        raise RuntimeError("the DNS pass failed")
    assert unet.forward("x") == "controlnet(unet(x))"


def test_unhooked_unet_and_models_without_one_are_left_alone():
    unet = Unet()
    model = SimpleNamespace(model=SimpleNamespace(diffusion_model=unet))
    with controlnet_paused(model):
        assert unet.forward("x") == "unet(x)" and "forward" not in vars(unet)
    with controlnet_paused(SimpleNamespace()):
        pass
