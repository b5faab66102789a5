"""DNP beside real sd-dynamic-prompts, ADetailer and ControlNet, in both load orders (issue 12.6; opt-in, see
conftest.py). The oracles: a DNP image equals a plain generation (the peers as they are, DNP off) with the
negative its infotext reports; a DNS image equals a plain generation with prompt "", negative p, CFG s + 1, and
no peer's work (see lib_dnp/webui/peers.py for why ControlNet and ADetailer stay out of the DNS pass)."""

from __future__ import annotations

import base64
import io
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from webui.harness import BASE, field, negative_of

DNS_SCALE = 5.0
WILDCARD = "dnp-test-colours"


def dnp(captioner: str, **fields) -> dict:
    return {"DNP": {"args": [{"enabled": True, "captioner": captioner, "cache": False, **fields}]}}


def _png_b64(image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def astronaut(python: Path, size: int) -> str:
    """A real photograph with a face, shipped inside scikit-image (a WebUI requirement: read with its python)."""
    from PIL import Image

    code = "import os, skimage.data; print(os.path.dirname(skimage.data.__file__))"
    folder = subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    return _png_b64(Image.open(Path(folder) / "astronaut.png").convert("RGB").resize((size, size)))


def assert_same(server, a: str, b: str, what: str, tolerance: int = 0) -> None:
    difference = np.abs(server.decode_image(a).astype(int) - server.decode_image(b).astype(int))
    assert difference.max() <= tolerance, (what, int(difference.max()))


def assert_dns_oracle(server, dns_b64: str, prompt: str, seed: int, **payload) -> None:
    eq20 = server.txt2img(
        **{
            **BASE,
            **payload,
            "prompt": "",
            "negative_prompt": prompt,
            "cfg_scale": DNS_SCALE + 1,
            "seed": seed,
        }
    )
    assert_same(server, dns_b64, eq20["images"][0], f"DNS image of {prompt!r}", tolerance=1)


def _script_order(server) -> list[str]:
    return server.get("/sdapi/v1/scripts").json()["txt2img"]


@pytest.fixture
def wildcard(request):
    """A wildcard file in sd-dynamic-prompts' default wildcards folder, removed afterwards."""
    import os

    folder = Path(os.environ["SD_WEBUI_PEERS_DIR"]) / "sd-dynamic-prompts" / "wildcards"
    folder.mkdir(exist_ok=True)
    path = folder / f"{WILDCARD}.txt"
    path.write_text("green\nyellow\npurple\n")
    yield f"__{WILDCARD}__"
    path.unlink()


def test_dynamic_prompts_variants_and_wildcards(peers_webui, captioner, wildcard):
    server = peers_webui
    order = _script_order(server)
    dnp_first = order.index("dnp") < order.index(next(s for s in order if s.startswith("dynamic prompts")))
    assert dnp_first is (server.order == "dnp_first"), order  # the load order this case is about
    template = f"a photo of a {{red|blue}} cat, {wildcard}"
    r = server.txt2img(
        **{**BASE, "prompt": template, "n_iter": 3, "batch_size": 1},
        alwayson_scripts=dnp(captioner, return_dns_images=True, dns_scale=DNS_SCALE),
    )
    infotexts = server.infotexts(r)
    assert len(r["images"]) == 6  # three images, then their DNS images
    prompts = [text.split("\n")[0] for text in infotexts[:3]]
    for prompt in prompts:
        assert re.fullmatch(r"a photo of a (red|blue) cat, (green|yellow|purple)", prompt), prompts
    assert len(set(prompts)) >= 2, prompts  # each image its own prompt
    for i, (prompt, text) in enumerate(zip(prompts, infotexts)):
        caption = field(text, "DNP caption")
        assert caption and negative_of(text) == f"blurry, {caption}", text
        seed = BASE["seed"] + i
        plain = server.txt2img(
            **{**BASE, "prompt": prompt, "negative_prompt": negative_of(text), "seed": seed}
        )
        assert_same(server, r["images"][i], plain["images"][0], f"image {i + 1}")
        assert_dns_oracle(server, r["images"][3 + i], prompt, seed)


def dns_image_of(server, r: dict, index: int) -> str:
    """The DNS image of image `index`, found by its infotext: images and infotexts pair by position, and peers may
    add images of their own (ControlNet's detected maps, which have none)."""
    texts = server.infotexts(r)
    (position,) = [k for k, t in enumerate(texts) if t.startswith(f"DNS image {index + 1},")]
    return r["images"][position]


def adetailer(model: str = "mediapipe_face_full") -> dict:
    return {"ADetailer": {"args": [True, False, {"ad_model": model, "ad_confidence": 0.3}]}}


def test_adetailer_runs_on_the_main_images_only(peers_webui, captioner):
    """ADetailer's postprocess_image sees the main images, never the DNS images, and changes nothing of DNP's.

    It finds no face here: the tiny checkpoint's random VAE turns any picture into noise (img2img of a real photo
    included), so its inpainting with the composed negative is not exercised; see the report in tests/webui/README.md.
    """
    server = peers_webui
    mark = server.log_mark()
    payload = {**BASE, "n_iter": 2}
    # dns_scale as the oracle's CFG (DNS_SCALE + 1): without it the pass ran at the CFG scale, s = 7, and the DNS
    # image was measured 11-14 levels from the oracle at CFG 6 with ADetailer off too, 0 at CFG 8
    args = dnp(captioner, return_dns_images=True, dns_scale=DNS_SCALE)
    r = server.txt2img(**payload, alwayson_scripts={**args, **adetailer()})
    log = server.log_since(mark)
    # one line per main image (2), none for the 2 DNS images
    assert log.count("ADetailer: nothing detected on image") == 2, log[-3000:]
    for i, text in enumerate(server.infotexts(r)[:2]):
        negative = negative_of(text)
        assert negative == f"blurry, {field(text, 'DNP caption')}"
        seed = BASE["seed"] + i
        plain = server.txt2img(
            **{**BASE, "negative_prompt": negative, "seed": seed}, alwayson_scripts=adetailer()
        )
        assert_same(server, r["images"][i], plain["images"][0], f"image {i + 1} with ADetailer")
        assert_dns_oracle(server, dns_image_of(server, r, i), BASE["prompt"], seed)


def controlnet_reference(image: str) -> dict:
    unit = {"enabled": True, "module": "reference_only", "model": "None", "image": image, "weight": 1.0}
    return {"ControlNet": {"args": [unit]}}


def test_controlnet_reference_only_steers_the_main_image_not_the_dns_image(
    peers_webui, captioner, webui_assets, sd15_layout_checkpoint
):
    """Reference-only changes the UNet itself: ControlNet's process() replaces its forward (which runs the
    reference latent through the UNet to fill attention banks) and every transformer block's inner forward (which
    reads those banks). DNP runs its DNS pass with the UNet's own forward (lib_dnp/webui/peers.py), so the blocks
    find empty banks and compute plain self-attention: the DNS image is the model's own, while the main image is
    ControlNet's. Needs SD1.5's UNet block layout (ControlNet hooks blocks by index): tiny-sd15-layout."""
    server = peers_webui
    options = server.get("/sdapi/v1/options").json()
    assert Path(sd15_layout_checkpoint).stem in options["sd_model_checkpoint"], options["sd_model_checkpoint"]
    control = controlnet_reference(astronaut(webui_assets.python, 64))
    # One image per request: ControlNet encodes the reference once per job, drawing the VAE's sample from the
    # global generator as the first batch left it, so a job's later images are not those of a lone request at their
    # seeds even without DNP (measured: image 2 of a plain 2-batch job, 30 levels from the lone seed-8 request; 0
    # without ControlNet), and the plain oracle takes one negative for every image.
    for seed in (BASE["seed"], BASE["seed"] + 1):
        steered = {**BASE, "seed": seed}
        r = server.txt2img(
            **steered,
            alwayson_scripts={**dnp(captioner, return_dns_images=True, dns_scale=DNS_SCALE), **control},
        )
        texts = server.infotexts(r)
        # ControlNet appends its detected map (the reference) without an infotext in its postprocess: after the DNS
        # image when DNP's runs first; before it when DNP's runs last, and DNP gives the map an empty infotext then,
        # so that the DNS image keeps its own (the oracle below finds the DNS image by it)
        dns_text = f"DNS image 1, seed {seed}"
        assert len(r["images"]) == 3, len(r["images"])
        assert texts[1:] == ([dns_text] if server.order == "dnp_first" else ["", dns_text]), texts
        assert field(texts[0], "ControlNet 0"), texts[0]  # ControlNet ran on the main image
        negative = negative_of(texts[0])
        assert negative == f"blurry, {field(texts[0], 'DNP caption')}"
        plain = server.txt2img(**{**steered, "negative_prompt": negative}, alwayson_scripts=control)
        assert_same(server, r["images"][0], plain["images"][0], f"seed {seed} with reference-only")
        unsteered = server.txt2img(**{**steered, "negative_prompt": negative})
        effect = np.abs(
            server.decode_image(r["images"][0]).astype(int)
            - server.decode_image(unsteered["images"][0]).astype(int)
        ).max()
        # ControlNet moves the image by more than the DNS oracle's tolerance, so that oracle would see it there
        assert effect > 1, f"reference-only changed the seed-{seed} image by {effect} levels only"
        assert_dns_oracle(server, dns_image_of(server, r, 0), BASE["prompt"], seed)  # no control there
