"""Smoke tests of the harness itself: the real WebUI starts, loads the tiny checkpoint and generates."""

import numpy as np

PAYLOAD = {
    "prompt": "a photo of a cat",
    "negative_prompt": "",
    "steps": 4,
    "width": 64,
    "height": 64,
    "seed": 1,
    "sampler_name": "Euler a",
    "cfg_scale": 7,
}


def test_txt2img_returns_one_png(webui):
    r = webui.txt2img(**PAYLOAD)
    assert len(r["images"]) == 1
    assert webui.png_bytes(r["images"][0]).startswith(b"\x89PNG\r\n\x1a\n")
    img = webui.decode_image(r["images"][0])
    assert img.shape == (64, 64, 3)
    assert img.std() > 0  # not a flat picture
    (infotext,) = webui.infotexts(r)
    assert "Steps: 4" in infotext and "Seed: 1," in infotext and "Model: tiny-sd15" in infotext


def test_same_seed_same_pixels(webui):
    a = webui.decode_image(webui.txt2img(**PAYLOAD)["images"][0])
    b = webui.decode_image(webui.txt2img(**PAYLOAD)["images"][0])
    np.testing.assert_array_equal(a, b)
    c = webui.decode_image(webui.txt2img(**{**PAYLOAD, "seed": 2})["images"][0])
    assert not np.array_equal(a, c)


def test_scripts_endpoint(webui):
    r = webui.get("/sdapi/v1/scripts")
    assert r.status_code == 200, r.text
    scripts = r.json()
    assert "x/y/z plot" in scripts["txt2img"]
    assert "img2img" in scripts


def test_plain_webui_generates_the_same_image(webui, webui_plain):
    """The comparison server (no extra extensions) is deterministic across processes: same request, same pixels."""
    with_ext = webui.decode_image(webui.txt2img(**PAYLOAD)["images"][0])
    without = webui_plain.decode_image(webui_plain.txt2img(**PAYLOAD)["images"][0])
    np.testing.assert_array_equal(with_ext, without)
