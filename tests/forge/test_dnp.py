"""DNP in a real Forge: the A1111 oracle tests, run against Forge, and what only Forge needs checked.

Forge differs where guidance is concerned (backend/sampling/sampling_function.py, modules/sd_samplers_cfg_denoiser.py):
it drops the uncond pass at CFG 1, forces CFG 1 on `skip_early_cond` and NGMS steps, and the hires pass samples at
its own `hr_cfg` (1 by default through the API, which ignores every negative prompt there).
"""

from __future__ import annotations

import numpy as np
from webui.harness import BASE, PASTE_BACK, field, negative_of
from webui.test_dnp import (  # noqa: F401  (collected here, run against Forge)
    dnp,
    test_disabled_is_identical_to_the_webui_without_the_extension,
    test_dnp_image_equals_plain_generation_with_its_reported_negative,
    test_dns_image_is_eq20_with_scale_plus_one,
    test_each_image_of_a_batch_gets_its_own_caption,
    test_hires_pass_uses_the_composed_negative,
    test_missing_captioner_keeps_the_image_with_the_users_negative,
    test_script_is_listed_with_its_widgets_enable_first,
)


def _eq20(webui, scale: float, **extra) -> np.ndarray:
    """The DNS oracle: a plain generation with prompt "", negative p, CFG s + 1."""
    r = webui.txt2img(
        **{**BASE, "prompt": "", "negative_prompt": BASE["prompt"], "cfg_scale": scale + 1, **extra}
    )
    return webui.decode_image(r["images"][0])


def _dns_image(webui, captioner, **fields) -> np.ndarray:
    r = webui.txt2img(**BASE, alwayson_scripts=dnp(captioner, return_dns_images=True, cache=False, **fields))
    assert len(r["images"]) == 2, webui.infotexts(r)
    return webui.decode_image(r["images"][1])


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    return int(np.abs(a.astype(int) - b.astype(int)).max()) <= 1  # one 8-bit level, as in the A1111 oracle


def test_dns_scale_1_is_not_taken_for_forges_cfg_1_shortcut(webui, captioner):
    """s = 1 samples at CFG 2 with both halves: Forge's shortcut (uncond dropped at CFG 1) never applies."""
    assert _close(_dns_image(webui, captioner, dns_scale=1.0), _eq20(webui, 1.0))


def test_skip_early_cond_does_not_touch_the_dns_pass(webui, captioner):
    """ "Ignore negative prompt during early sampling" forces CFG 1 on the first steps of the user's pass only."""
    # In the WebUI's config first: process_images restores only overridden options that opts.data holds (Forge's
    # and A1111's processing.py, `stored_opts`), and the harness's config.json lacks this one, so without this the
    # override would outlive the request, DNP or not, and bend every later oracle of the session.
    assert webui.post("/sdapi/v1/options", json={"skip_early_cond": 0.0}).status_code == 200
    early = {"override_settings": {"skip_early_cond": 0.5}}
    r = webui.txt2img(
        **BASE, **early, alwayson_scripts=dnp(captioner, return_dns_images=True, cache=False, dns_scale=5.0)
    )
    (infotext, _) = webui.infotexts(r)
    assert field(infotext, "Skip Early CFG") == "0.5"  # the user's pass did skip
    assert _close(webui.decode_image(r["images"][1]), _eq20(webui, 5.0))  # the DNS pass did not
    # and the user's image is the plain generation with the reported negative, skip included
    plain = webui.txt2img(**{**BASE, **early, "negative_prompt": negative_of(infotext)})
    assert np.array_equal(webui.decode_image(r["images"][0]), webui.decode_image(plain["images"][0]))
    # after the request the option is the user's again
    assert webui.get("/sdapi/v1/options").json().get("skip_early_cond", 0.0) == 0.0


def test_ngms_does_not_touch_the_dns_pass(webui, captioner):
    """NGMS (s_min_uncond) forces CFG 1 on every other late step; the DNS pass samples without it."""
    ngms = {"s_min_uncond": 100.0}  # above every sigma: all odd steps
    r = webui.txt2img(**BASE, **ngms, alwayson_scripts=dnp(captioner, return_dns_images=True, cache=False))
    assert _close(webui.decode_image(r["images"][1]), _eq20(webui, BASE["cfg_scale"]))
    (infotext, _) = webui.infotexts(r)
    assert field(infotext, "NGMS") == "100.0"


def test_infotext_paste_back_regenerates_the_same_image(webui, captioner):
    """A1111's paste-back test, with `styles` set (harness.PASTE_BACK: Forge's API fails any infotext without it)."""
    first = webui.txt2img(**BASE, alwayson_scripts=dnp(captioner, composition="prepend", dns_scale=4.0))
    (infotext,) = webui.infotexts(first)
    again = webui.txt2img(infotext=infotext, width=64, height=64, **PASTE_BACK)
    (again_text,) = webui.infotexts(again)
    assert field(again_text, "DNP") == field(infotext, "DNP")  # DNP's args came from the infotext alone
    assert field(again_text, "DNP caption") == field(infotext, "DNP caption")
    assert negative_of(again_text) == negative_of(infotext)  # the caption is not added twice
    assert np.array_equal(webui.decode_image(first["images"][0]), webui.decode_image(again["images"][0]))
