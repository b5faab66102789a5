"""The DNS pass sees each image's final prompt, whichever order the scripts run their process() in (issue 12.6).

A stand-in for sd-dynamic-prompts (fixtures/dnp_variants/, linked as `aaa-dnp-variants` and `zzz-dnp-variants`)
rewrites `{tag:red|blue}` per image in its process(); one copy runs before DNP's process(), the other after it.
Batches of one image, so that each image's oracles are exact plain generations of one image.
"""

from __future__ import annotations

import numpy as np
import pytest

from .fixtures.testext import BASE, dnp, field, negative_of, same_image

DNS_SCALE = 5.0


def _state(server, tag: str) -> dict:
    r = server.get(f"/dnp-variants/{tag}/state")
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("tag, dnp_first", [("aaa", False), ("zzz", True)])
def test_dns_pass_sees_the_prompts_another_scripts_process_wrote(testext_webui, captioner, tag, dnp_first):
    server = testext_webui
    payload = {**BASE, "prompt": f"a photo of a {{{tag}:red|blue}} cat", "n_iter": 2, "batch_size": 1}
    r = server.txt2img(
        **payload, alwayson_scripts=dnp(captioner, return_dns_images=True, dns_scale=DNS_SCALE)
    )
    prompts = ["a photo of a red cat", "a photo of a blue cat"]
    state = _state(server, tag)
    assert state["prompts"] == prompts
    assert state["dnp_process_ran_first"] is dnp_first  # both orders of process() are covered
    assert state["dns_prompts"] == [[p] for p in prompts]  # one DNS pass per batch, on the rewritten prompt

    infotexts = server.infotexts(r)
    assert len(r["images"]) == 4  # two images, then their DNS images
    for i, prompt in enumerate(prompts):
        text = infotexts[i]
        assert text.startswith(prompt + "\n"), text
        caption = field(text, "DNP caption")
        assert caption and negative_of(text) == f"blurry, {caption}", text
        seed = BASE["seed"] + i
        plain = server.txt2img(
            **{**BASE, "prompt": prompt, "negative_prompt": negative_of(text), "seed": seed}
        )
        assert same_image(server, r["images"][i], plain["images"][0]), f"image {i + 1}"
        eq20 = server.txt2img(
            **{**BASE, "prompt": "", "negative_prompt": prompt, "cfg_scale": DNS_SCALE + 1, "seed": seed}
        )
        difference = np.abs(
            server.decode_image(r["images"][2 + i]).astype(int)
            - server.decode_image(eq20["images"][0]).astype(int)
        )
        assert difference.max() <= 1, (i, difference.max())  # one 8-bit level, as in test_dnp
