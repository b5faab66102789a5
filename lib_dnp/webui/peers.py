"""What other extensions' hooks do while DNP samples its DNS pass (the one place that knows about them).

The DNS image is the model's least prompt-compliant image for the prompt at the seed: what the model makes of p
on its own. A control image (ControlNet, reference-only included) belongs to the main image: it steers that
image towards the user's picture, and a DNS image steered the same way would caption the control image rather
than what the model gets wrong about p. So ControlNet's UNet hook is set aside for the nested pass.

Other scripts need nothing here: the nested pass runs without any script (`nested.scripts = None`), so
ADetailer, sd-dynamic-prompts and the like never see it, and they act on the main images as usual (ADetailer
inpaints with each image's composed negative from p.all_negative_prompts, the one its infotext reports).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def controlnet_paused(sd_model: Any) -> Iterator[None]:
    """Run the block with the UNet's own forward, not ControlNet's hook.

    sd-webui-controlnet hooks the UNet in its process() by setting the instance's `forward` and keeping the
    replaced one as `_original_forward`; its reference-only hooks on the transformer blocks' inner forward and on
    the hooked blocks' group norms read banks that only that forward fills (and empties after each call), so they
    compute the plain block without it (tests/webui_peers proves the DNS image is then the model's own). The hook
    is put back for the main pass. A UNet without the hook (no ControlNet, or no unit enabled) is left alone."""
    unet = getattr(getattr(sd_model, "model", None), "diffusion_model", None)
    original = getattr(unet, "_original_forward", None)
    if unet is None or original is None or "forward" not in vars(unet):
        yield
        return
    hooked = unet.forward
    unet.forward = original
    try:
        yield
    finally:
        unet.forward = hooked
