"""The DNS pass is eq. 19 at every step whatever the WebUI options (issue 12, item 3), and the main pass keeps them.

For each option of the CFG denoiser that changes which branch it evaluates or how it pads or batches them, with
the option set: the DNS image equals a plain WebUI generation with prompt "", negative p, CFG s + 1 and the
option off (the oracle of test_dnp.py, one 8-bit level of tolerance), and the DNP image equals a plain
generation with its reported negative and the option still set. For the options that would bend the DNS pass,
the test also shows that they do change that plain generation, so the first check could fail.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pytest

from .harness import BASE, negative_of

SCALE = 5.0  # the DNS scale s; the oracle runs at CFG s + 1
LONG_PROMPT = ", ".join(
    ["a photo of a cat sitting on a wooden chair in the garden"] * 8
)  # two 75-token chunks


@dataclass(frozen=True)
class Case:
    options: dict
    request: dict = field(default_factory=dict)
    bends: bool = True  # would bend the DNS pass if it were left on


CASES = {
    "skip_early_cond": Case({"skip_early_cond": 0.5}),
    # NGMS at every step below sigma 15 (on every other step alone, the tiny model moves the image by one level)
    "ngms": Case({"s_min_uncond": 15.0, "s_min_uncond_all": True}),
    "ngms_request_field": Case({"s_min_uncond_all": True}, {"s_min_uncond": 15.0}),
    # On SD1.x the DNS pass's cond is CLIP(""), and padding it with CLIP("") chunks only repeats its attention keys,
    # which leaves attention as it was: harmless here, neutralised for SDXL, whose empty cond is zeros.
    "pad_cond_uncond": Case({"pad_cond_uncond": True}, {"prompt": LONG_PROMPT}, bends=False),
    "pad_cond_uncond_v0": Case({"pad_cond_uncond_v0": True}, {"prompt": LONG_PROMPT}),
    "batch_cond_uncond_off": Case({"batch_cond_uncond": False}, bends=False),
    # CFG 1 with no dns_scale: s follows the main CFG, the nested scale is 2; v1.10.1 has no CFG-1 shortcut
    "main_cfg_1": Case({}, {"cfg_scale": 1.0}, bends=False),
}


@contextmanager
def options(server, values: dict):
    """Set WebUI options for the block, and put the previous values back (the API keeps what it is sent)."""
    if not values:
        yield
        return
    current = server.get("/sdapi/v1/options").json()
    previous = {name: current[name] for name in values}
    assert server.post("/sdapi/v1/options", json=values).status_code == 200
    try:
        yield
    finally:
        assert server.post("/sdapi/v1/options", json=previous).status_code == 200


def image(server, response, index: int = 0) -> np.ndarray:
    return server.decode_image(response["images"][index]).astype(int)


_PLAIN: dict[str, dict] = {}


def plain_without_options(server, payload: dict) -> dict:
    """A plain generation with every option of CASES off (memoised: cases share their oracles)."""
    text = json.dumps({**payload, "s_min_uncond": 0.0}, sort_keys=True)
    if text not in _PLAIN:
        _PLAIN[text] = server.txt2img(**json.loads(text))
    return _PLAIN[text]


def dnp(captioner: str, **fields) -> dict:
    args = {"enabled": True, "captioner": captioner, "cache": False, "return_dns_images": True, **fields}
    return {"DNP": {"args": [args]}}


@pytest.mark.parametrize("name", list(CASES))
def test_dns_pass_is_eq19_whatever_the_option_and_the_main_pass_keeps_it(webui, captioner, name):
    check_case(webui, captioner, name)


def check_case(webui, captioner, name: str) -> None:
    case = CASES[name]
    request = {**BASE, "seed": 300, **case.request}
    scale = request["cfg_scale"] + 1.0 if "cfg_scale" in case.request else SCALE + 1.0
    dns_fields = {} if "cfg_scale" in case.request else {"dns_scale": SCALE}
    eq20 = {**request, "prompt": "", "negative_prompt": request["prompt"], "cfg_scale": scale}
    with options(webui, case.options):
        r = webui.txt2img(**request, alwayson_scripts=dnp(captioner, **dns_fields))
        assert len(r["images"]) == 2, r.get("info")
        negative = negative_of(webui.infotexts(r)[0])
        main_with_option = webui.txt2img(**{**request, "negative_prompt": negative})
        eq20_with_option = webui.txt2img(**eq20) if case.bends else None
    eq20_without = plain_without_options(webui, eq20)

    difference = np.abs(image(webui, r, 1) - image(webui, eq20_without)).max()
    assert difference <= 1, f"{name}: DNS image is {difference} levels off eq. 19"
    assert np.array_equal(image(webui, r), image(webui, main_with_option)), f"{name}: main pass changed"
    if case.bends:
        bent = np.abs(image(webui, eq20_with_option) - image(webui, eq20_without)).max()
        assert bent > 1, f"{name} does not change the eq. 20 generation: this case proves nothing"
        main_without = plain_without_options(webui, {**request, "negative_prompt": negative})
        assert not np.array_equal(image(webui, main_with_option), image(webui, main_without))


def test_outer_override_settings_stay_in_effect_for_the_main_pass_and_are_left_as_without_dnp(
    webui, captioner
):
    """The nested pass overrides nothing through override_settings: the request's own overrides apply to the DNS
    pass as they would to a plain generation (CLIP skip), skip_early_cond is neutral there all the same, the
    main pass honours both, and the options end as a plain request with those overrides leaves them."""
    overrides = {"skip_early_cond": 0.5, "CLIP_stop_at_last_layers": 2}
    request = {**BASE, "seed": 330}
    before = {k: v for k, v in webui.get("/sdapi/v1/options").json().items() if k in overrides}
    try:
        # process_images restores only the overridden options config.json holds: both requests start alike
        webui.post("/sdapi/v1/options", json=before)
        webui.txt2img(**request, override_settings=overrides)
        after_plain = {k: v for k, v in webui.get("/sdapi/v1/options").json().items() if k in overrides}
        webui.post("/sdapi/v1/options", json=before)
        r = webui.txt2img(
            **request, override_settings=overrides, alwayson_scripts=dnp(captioner, dns_scale=SCALE)
        )
        after_dnp = {k: v for k, v in webui.get("/sdapi/v1/options").json().items() if k in overrides}
        assert after_dnp == after_plain
        webui.post("/sdapi/v1/options", json=before)
        negative = negative_of(webui.infotexts(r)[0])
        main = webui.txt2img(**{**request, "negative_prompt": negative}, override_settings=overrides)
        assert np.array_equal(image(webui, r), image(webui, main))
        eq20 = {**request, "prompt": "", "negative_prompt": request["prompt"], "cfg_scale": SCALE + 1}
        oracle = webui.txt2img(**eq20, override_settings={"CLIP_stop_at_last_layers": 2})
        assert np.abs(image(webui, r, 1) - image(webui, oracle)).max() <= 1
        clip_skip_1 = webui.txt2img(**eq20, override_settings={"CLIP_stop_at_last_layers": 1})
        assert np.abs(image(webui, r, 1) - image(webui, clip_skip_1)).max() > 1  # the override did reach it
    finally:
        webui.post("/sdapi/v1/options", json=before)
