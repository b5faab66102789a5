"""Memory as the WebUI manages it: under --medvram the SD model is moved aside while the captioner runs, as the
WebUI's own interrogator does, comes back for the main pass, and the image is what it would be without the move.

On the CPU nothing physically moves (the WebUI's "GPU" is the CPU), so the test reads the WebUI's own record of
what its low-VRAM mode holds on the device (`lowvram.module_in_gpu`), through the test-only extension's captioner
wrapper, which notes it when the captioner is called.

In A1111 v1.10.1 the WebUI itself sends everything to the CPU after each decode under low VRAM (so after the DNS
pass), and img2img encodes its init image only after the script's `process()`: the SD model is already aside when
DNP captions there, and this test guards that invariant (DNP's own move, `runtime.make_room`, is the interrogator's
belt and braces) together with the image being unchanged.
"""

from __future__ import annotations

import pytest

from .fixtures.testext import BASE, dnp, field, negative_of, same_image, start_medvram_webui, state


@pytest.fixture(scope="module")
def medvram_webui(webui_servers, webui_assets):
    return start_medvram_webui(webui_servers, webui_assets)


def test_medvram_moves_the_sd_model_aside_while_captioning(medvram_webui, captioner):
    r = medvram_webui.txt2img(**{**BASE, "seed": 31}, alwayson_scripts=dnp(captioner))
    (text,) = medvram_webui.infotexts(r)
    assert field(text, "DNP caption") and field(text, "DNP error") is None, text
    placement = state(medvram_webui)["sd_model_while_captioning"]
    assert placement is not None and placement["lowvram"], placement  # --medvram is in effect
    # the DNS pass left a part of the SD model on the device; it was moved aside before the captioner ran
    assert placement["module_on_gpu"] is None, placement
    # ... and came back for the main pass: the image is a plain generation with the negative the infotext reports
    plain = medvram_webui.txt2img(**{**BASE, "seed": 31, "negative_prompt": negative_of(text)})
    assert same_image(medvram_webui, r["images"][0], plain["images"][0])
