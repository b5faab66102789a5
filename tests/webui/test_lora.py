"""LoRA stays active in the DNS pass (issue 4 item 2), with the WebUI's built-in Lora extension and a tiny random
LoRA for the tiny checkpoint (fixtures/make_test_models.py; UNet and text-encoder layers).

The DNS pass keeps the user's prompt as its prompt (lib_dnp/webui/dns_pass.py), so the WebUI parses and activates
its `<lora:...>` tags as in any generation. Eq. 20 in the plain WebUI needs the same: the WebUI activates extra
networks only from the positive prompt, and a tag in the negative prompt is just text. So the plain oracle is
prompt "<lora:NAME:1>" (empty text, LoRA active) with the prompt's text as negative, at CFG s + 1.
"""

from __future__ import annotations

import numpy as np
import pytest

from .fixtures.testext import BASE, LORA, dnp, field, negative_of, same_image

TAG = f"<lora:{LORA}:1>"
WITH_LORA = {**BASE, "prompt": TAG + BASE["prompt"]}  # the tag first: the text left is exactly BASE's prompt
DNS_SCALE = 5.0


@pytest.fixture(scope="module", autouse=True)
def lora_built(webui_assets):
    webui_assets.require("test_models")  # a clear failure when its builder failed


def dns_run(testext_webui, captioner, payload: dict) -> dict:
    r = testext_webui.txt2img(
        **payload, alwayson_scripts=dnp(captioner, return_dns_images=True, dns_scale=DNS_SCALE)
    )
    assert len(r["images"]) == 2 and field(testext_webui.infotexts(r)[0], "DNP error") is None
    return r


def levels(testext_webui, a: str, b: str) -> int:
    return int(
        np.abs(testext_webui.decode_image(a).astype(int) - testext_webui.decode_image(b).astype(int)).max()
    )


def test_the_lora_is_active_in_the_dns_pass(testext_webui, captioner):
    with_lora = dns_run(testext_webui, captioner, WITH_LORA)
    without = dns_run(testext_webui, captioner, BASE)
    assert (
        levels(testext_webui, with_lora["images"][1], without["images"][1]) > 1
    )  # the LoRA changed the DNS image
    # eq. 20 with the LoRA active: prompt = the tag alone, negative = the prompt's text, CFG s + 1
    oracle = testext_webui.txt2img(
        **{**BASE, "prompt": TAG, "negative_prompt": BASE["prompt"], "cfg_scale": DNS_SCALE + 1}
    )
    # stated tolerance: one 8-bit level, as for SD1 without LoRA (batched-conv rounding of the swapped rows)
    assert levels(testext_webui, with_lora["images"][1], oracle["images"][0]) <= 1
    # the tag as a negative prompt does not activate the LoRA: that plain generation is another image
    tag_as_text = testext_webui.txt2img(
        **{**BASE, "prompt": "", "negative_prompt": WITH_LORA["prompt"], "cfg_scale": DNS_SCALE + 1}
    )
    assert levels(testext_webui, with_lora["images"][1], tag_as_text["images"][0]) > 1


def test_the_dnp_image_with_lora_equals_a_plain_generation_with_its_negative(testext_webui, captioner):
    r = testext_webui.txt2img(**WITH_LORA, alwayson_scripts=dnp(captioner))
    (text,) = testext_webui.infotexts(r)
    assert field(text, "DNP caption") and f"{LORA}: " in field(text, "Lora hashes"), text
    plain = testext_webui.txt2img(**{**WITH_LORA, "negative_prompt": negative_of(text)})
    assert same_image(testext_webui, r["images"][0], plain["images"][0])
