"""DNP in img2img (issue 4 item 1), in a real WebUI.

What DNP means there: the DNS pass is the same as for txt2img, a nested txt2img through the WebUI's sampler with
the job's prompts, seeds, subseeds, sampler, steps (x DNS steps), size and CFG (or DNS scale), run per batch
before the img2img pass; it does not look at the init image. Its captions become the per-image negatives of the
img2img pass. So an img2img DNS image (and its caption) is the txt2img DNS image of the same settings, and the
img2img result is the plain img2img with the negative its infotext reports.
"""

from __future__ import annotations

import pytest

from .fixtures.testext import BASE, dnp, field, negative_of, same_image

STEPS = 8  # img2img samples steps x denoising strength; the DNS pass, a txt2img, all of them


@pytest.fixture(scope="module")
def img2img_payload(testext_webui) -> dict:
    init = testext_webui.txt2img(**{**BASE, "seed": 3})["images"][0]
    return {
        **BASE,
        "init_images": [init],
        "denoising_strength": 0.6,
        "steps": STEPS,
        "seed": 100,
        "batch_size": 2,
    }


def img2img(testext_webui, payload: dict) -> dict:
    r = testext_webui.post("/sdapi/v1/img2img", json=payload)
    assert r.status_code == 200, r.text[:2000]
    return r.json()


def test_the_script_is_in_img2img(testext_webui):
    assert "dnp" in testext_webui.get("/sdapi/v1/scripts").json()["img2img"]


def test_img2img_dns_pass_is_the_txt2img_dns_pass_at_the_same_seeds(
    testext_webui, captioner, img2img_payload
):
    args = dnp(captioner, return_dns_images=True)
    r = img2img(testext_webui, {**img2img_payload, "alwayson_scripts": args})
    assert len(r["images"]) == 4  # two images, then their DNS images
    texts = testext_webui.infotexts(r)[:2]
    captions = [field(text, "DNP caption") for text in texts]
    assert all(captions) and all(field(text, "DNP error") is None for text in texts), texts
    assert [field(text, "Seed") for text in texts] == ["100", "101"]

    reference = testext_webui.txt2img(
        **{**BASE, "steps": STEPS, "seed": 100, "batch_size": 2}, alwayson_scripts=args
    )
    assert [field(text, "DNP caption") for text in testext_webui.infotexts(reference)[:2]] == captions
    for mine, theirs in zip(r["images"][2:], reference["images"][2:]):
        assert same_image(testext_webui, mine, theirs)


def after_a_txt2img_at_seed(testext_webui, seed: int) -> None:
    """Leave torch's global RNG as a txt2img at `seed` leaves it, for the img2img that follows.

    A plain img2img is not a function of its request alone: its set-up VAE-encodes the init image with a
    posterior sample drawn from torch's global generator, which the WebUI never seeds for it; the previous
    generation's last image seed did (see dns_pass._global_rng_kept). Two img2img requests compared must
    start from the same state."""
    testext_webui.txt2img(**{**BASE, "seed": seed})


def test_img2img_image_equals_a_plain_img2img_with_its_reported_negative(
    testext_webui, captioner, img2img_payload
):
    payload = {**img2img_payload, "batch_size": 1}  # the API takes one negative prompt per request
    # Not the job's seed: a DNS pass that ran before the img2img set-up, seeding the global RNG with the job's
    # seed, would then give another init latent than the plain img2img gets (it did, by up to 50 levels).
    after_a_txt2img_at_seed(testext_webui, 5)
    r = img2img(testext_webui, {**payload, "alwayson_scripts": dnp(captioner)})
    (text,) = testext_webui.infotexts(r)
    negative = negative_of(text)
    assert negative == f"blurry, {field(text, 'DNP caption')}"
    assert testext_webui.info(r)["all_negative_prompts"] == [negative]
    after_a_txt2img_at_seed(testext_webui, 5)
    plain = img2img(testext_webui, {**payload, "negative_prompt": negative})
    assert same_image(testext_webui, r["images"][0], plain["images"][0])
    after_a_txt2img_at_seed(testext_webui, 5)
    own = img2img(testext_webui, payload)
    assert not same_image(
        testext_webui, r["images"][0], own["images"][0]
    )  # the captions did change the images


def test_a_dns_pass_leaves_the_next_img2img_as_it_was(testext_webui, captioner, img2img_payload):
    """Preview DNS (a DNS pass outside any generation) between two identical img2img set-ups changes nothing:
    the pass gives torch's global RNG back as it found it, which the next img2img's init encoding draws from."""
    payload = {**img2img_payload, "batch_size": 1}
    after_a_txt2img_at_seed(testext_webui, 5)
    alone = img2img(testext_webui, payload)
    after_a_txt2img_at_seed(testext_webui, 5)
    preview = {"prompt": BASE["prompt"], "seed": 100, "steps": BASE["steps"], "width": 64, "height": 64,
               "dnp": {"captioner": captioner, "cache": False}}  # fmt: skip
    r = testext_webui.post("/dnp/v1/preview", json=preview)
    assert r.status_code == 200 and r.json()["errors"] == [None], r.text[:500]
    after_preview = img2img(testext_webui, payload)
    assert same_image(testext_webui, alone["images"][0], after_preview["images"][0])
