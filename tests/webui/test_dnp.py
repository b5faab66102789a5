"""DNP inside a real WebUI: the oracle tests of issue 4 (SD1.x, CPU, tiny random checkpoint and captioner)."""

from __future__ import annotations

import numpy as np
import pytest

from .harness import BASE, field, negative_of  # noqa: F401  (re-exported for the other test files)


def dnp(captioner: str, **fields) -> dict:
    return {"DNP": {"args": [{"enabled": True, "captioner": captioner, **fields}]}}


def test_dnp_image_equals_plain_generation_with_its_reported_negative(webui, captioner):
    r = webui.txt2img(**BASE, alwayson_scripts=dnp(captioner))
    (infotext,) = webui.infotexts(r)
    caption = field(infotext, "DNP caption")
    assert caption, infotext
    negative = negative_of(infotext)
    assert negative == f"blurry, {caption}"
    assert webui.info(r)["all_negative_prompts"] == [negative]
    plain = webui.txt2img(**{**BASE, "negative_prompt": negative})
    assert np.array_equal(webui.decode_image(r["images"][0]), webui.decode_image(plain["images"][0]))
    # and the caption did change the image
    own = webui.txt2img(**BASE)
    assert not np.array_equal(webui.decode_image(r["images"][0]), webui.decode_image(own["images"][0]))


def test_dns_image_is_eq20_with_scale_plus_one(webui, captioner):
    """The DNS image equals a plain generation with prompt "" and negative p at CFG s + 1 (see guidance.py)."""
    r = webui.txt2img(**BASE, alwayson_scripts=dnp(captioner, return_dns_images=True, dns_scale=5.0))
    assert len(r["images"]) == 2  # the generated image, then its DNS image
    dns_image = webui.decode_image(r["images"][1])
    eq20 = webui.txt2img(**{**BASE, "prompt": "", "negative_prompt": BASE["prompt"], "cfg_scale": 6.0})
    difference = np.abs(dns_image.astype(int) - webui.decode_image(eq20["images"][0]).astype(int))
    assert difference.max() <= 1, (
        difference.max()
    )  # stated tolerance: one 8-bit level (batched-conv rounding)
    wrong_scale = webui.txt2img(**{**BASE, "prompt": "", "negative_prompt": BASE["prompt"], "cfg_scale": 5.0})
    assert np.abs(dns_image.astype(int) - webui.decode_image(wrong_scale["images"][0]).astype(int)).max() > 1


def test_each_image_of_a_batch_gets_its_own_caption(webui, captioner):
    r = webui.txt2img(**{**BASE, "batch_size": 2, "n_iter": 2, "seed": 100}, alwayson_scripts=dnp(captioner))
    infotexts = webui.infotexts(r)
    assert len(r["images"]) == 4 and len(infotexts) == 4
    captions = [field(text, "DNP caption") for text in infotexts]
    seeds = [field(text, "Seed") for text in infotexts]
    assert seeds == ["100", "101", "102", "103"]
    assert all(captions) and len(set(captions)) >= 2, captions
    negatives = webui.info(r)["all_negative_prompts"]
    assert negatives == [f"blurry, {c}" for c in captions]
    assert [negative_of(text) for text in infotexts] == negatives
    # image 3 alone (seed 102) gets the same caption: captions follow seeds, not batch positions
    alone = webui.txt2img(**{**BASE, "seed": 102}, alwayson_scripts=dnp(captioner, cache=False))
    assert field(webui.infotexts(alone)[0], "DNP caption") == captions[2]


HIRES = {
    "enable_hr": True,
    "hr_scale": 2,
    "hr_upscaler": "Latent",
    "denoising_strength": 0.6,
    "hr_second_pass_steps": 2,
    # Forge's (A1111's API ignores fields it lacks): its API fails hires without hr_additional_modules, and samples
    # the hires pass at hr_cfg, 1 unless told, where every negative prompt is ignored (the UI's default is 7)
    "hr_cfg": 7.0,
    "hr_additional_modules": ["Use same choices"],
}


def test_hires_pass_uses_the_composed_negative(webui, captioner):
    r = webui.txt2img(**BASE, **HIRES, alwayson_scripts=dnp(captioner))
    (infotext,) = webui.infotexts(r)
    negative = negative_of(infotext)
    assert "Hires negative prompt" not in infotext  # same negative in both passes
    image = webui.decode_image(r["images"][0])
    assert image.shape == (128, 128, 3)
    same = webui.txt2img(**{**BASE, "negative_prompt": negative}, **HIRES)
    assert np.array_equal(image, webui.decode_image(same["images"][0]))
    old_hires = webui.txt2img(
        **{**BASE, "negative_prompt": negative, "hr_negative_prompt": "blurry"}, **HIRES
    )
    assert not np.array_equal(image, webui.decode_image(old_hires["images"][0]))


@pytest.mark.parametrize("sampler", ["Euler a", "DPM++ 2M", "DDIM"])
def test_disabled_is_identical_to_the_webui_without_the_extension(webui, webui_plain, captioner, sampler):
    payload = {**BASE, "sampler_name": sampler, "batch_size": 2}
    off = webui.txt2img(
        **payload, alwayson_scripts={"DNP": {"args": [{"enabled": False, "captioner": captioner}]}}
    )
    default = webui.txt2img(**payload)
    without = webui_plain.txt2img(**payload)
    for a, b, c in zip(off["images"], default["images"], without["images"]):
        assert np.array_equal(webui.decode_image(a), webui.decode_image(c))
        assert np.array_equal(webui.decode_image(b), webui.decode_image(c))
    assert "DNP" not in webui.infotexts(off)[0]


def test_infotext_paste_back_regenerates_the_same_image(webui, captioner):
    first = webui.txt2img(**BASE, alwayson_scripts=dnp(captioner, composition="prepend", dns_scale=4.0))
    (infotext,) = webui.infotexts(first)
    assert 'DNP: "mode=auto; captioner=' in infotext or "DNP: mode=auto; captioner=" in infotext
    # The WebUI parses the infotext with its own parser (Api.apply_infotext) and fills the request and our args.
    again = webui.txt2img(infotext=infotext, width=64, height=64)
    (again_text,) = webui.infotexts(again)
    # DNP ran again with the pasted settings (the args came from the infotext alone) ...
    assert field(again_text, "DNP") == field(infotext, "DNP")
    assert field(again_text, "DNP caption") == field(infotext, "DNP caption")
    assert negative_of(again_text) == negative_of(infotext)  # the caption is not added twice
    assert np.array_equal(webui.decode_image(first["images"][0]), webui.decode_image(again["images"][0]))


def test_missing_captioner_keeps_the_image_with_the_users_negative(webui, captioner):
    mark = webui.log_mark()
    r = webui.txt2img(**BASE, alwayson_scripts=dnp("blip2-opt-2.7b"))
    (infotext,) = webui.infotexts(r)
    assert negative_of(infotext) == "blurry"
    error = field(infotext, "DNP error")
    assert error and "Salesforce/blip2-opt-2.7b" in error, infotext  # registry, not cached
    plain = webui.txt2img(**BASE)
    assert np.array_equal(webui.decode_image(r["images"][0]), webui.decode_image(plain["images"][0]))
    assert "[DNP]" in webui.log_since(mark)
    # the next request works normally
    assert field(webui.infotexts(webui.txt2img(**BASE, alwayson_scripts=dnp(captioner)))[0], "DNP caption")


def test_script_is_listed_with_its_widgets_enable_first(webui):
    """The script's inputs are the accordion's widgets (the API sends one dict in their place, see test_api)."""
    from lib_dnp.widgets import input_slots

    info = webui.get("/sdapi/v1/script-info").json()
    entries = [e for e in info if e["name"] == "dnp"]
    assert {e["is_img2img"] for e in entries} == {False, True}
    for entry in entries:
        assert entry["is_alwayson"] and len(entry["args"]) == len(input_slots())
        assert entry["args"][0]["label"] == "DNP" and entry["args"][0]["value"] is False


def test_ui_mode_builds_the_accordion(webui_ui):
    page = webui_ui.get("/").text
    assert '"dnp_txt2img"' in page and '"dnp_img2img"' in page  # the InputAccordions' elem_ids
    log = webui_ui.log_text()
    assert "Error" not in "\n".join(line for line in log.splitlines() if "dnp" in line.lower()), log[-3000:]


def triggers(dependency: dict) -> list[tuple[int, str]]:
    """(component id, event) of a gradio /config dependency: gradio 3 (A1111) lists the target ids and names the
    event once, gradio 4 (Forge) lists (id, event) pairs."""
    return [
        (t[0], t[1]) if isinstance(t, (list, tuple)) else (t, dependency.get("trigger"))
        for t in dependency.get("targets", [])
    ]


def test_ui_mode_wires_preview_unload_and_last_results(webui_ui):
    config = webui_ui.get("/config").json()
    ids = {c["id"]: c.get("props", {}).get("elem_id") for c in config["components"]}
    triggered = {(ids.get(target), event) for d in config["dependencies"] for target, event in triggers(d)}
    for tab in ("txt2img", "img2img"):
        assert (f"dnp_{tab}_unload", "click") in triggered
        assert (f"generation_info_{tab}", "change") in triggered
    assert ("dnp_txt2img_preview", "click") in triggered


def test_preview_button_over_gradio(webui_ui, captioner):
    """Manual DNP from the UI, over gradio's own HTTP route: Preview DNS with the accordion's values gives the DNS
    images and one caption box per image, switches Mode to manual, and those captions are what Generate uses."""
    from lib_dnp.widgets import CAPTION_SLOTS

    config = webui_ui.get("/config").json()
    components = {c["id"]: c.get("props", {}) for c in config["components"]}
    (index, dependency), *_ = [
        (i, d)
        for i, d in enumerate(config["dependencies"])
        if any(
            components.get(t, {}).get("elem_id") == "dnp_txt2img_preview" and event == "click"
            for t, event in triggers(d)
        )
    ]
    tab = {"prompt": "a photo of a cat", "neg_prompt": "blurry", "seed": 11, "steps": 4, "cfg_scale": 7}
    tab.update(width=64, height=64, batch_size=2, sampling="Euler a", scheduler="Automatic")
    values = []
    for component_id in dependency["inputs"]:
        props = components[component_id]
        name = (props.get("elem_id") or "").removeprefix("txt2img_")
        values.append(
            captioner
            if props.get("elem_id") == "dnp_txt2img_captioner"
            else tab.get(name, props.get("value"))
        )
    r = webui_ui.post("/run/predict", json={"fn_index": index, "data": values, "session_hash": "dnp-test"})
    assert r.status_code == 200, r.text[:500]
    gallery, mode, enabled, group, *boxes, seed, status = r.json()["data"]
    assert len(boxes) == CAPTION_SLOTS and seed == 11 and "Seed 11 fixed" in status, status
    assert (
        gallery["visible"] and len(gallery["value"]) == 2
    )  # an update: the gallery shows once it has images
    assert mode == "manual" and enabled is True
    assert group["visible"]  # the captions' group shows in the same response as its boxes' values
    lines = [box["value"] for box in boxes[:2]]
    assert all(lines) and [box["visible"] for box in boxes[:3]] == [True, True, False], boxes

    # Generating with those captions in manual mode uses them as the negatives, image by image.
    api = webui_ui.txt2img(
        **{**BASE, "seed": 11, "batch_size": 2},
        alwayson_scripts={"DNP": {"args": [{"enabled": True, "mode": "manual", "captions": lines}]}},
    )
    assert webui_ui.info(api)["all_negative_prompts"] == [f"blurry, {line}" for line in lines]
