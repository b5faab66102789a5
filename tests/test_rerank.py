"""CLIP re-ranking of caption candidates: the choice with hand-made embeddings, the pipeline's re-rank step
(fallbacks, cache keys), candidates from a tiny BLIP, and the diffusers front end end to end."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lib_dnp.cache import DnsCache, DnsKey
from lib_dnp.infotext import settings_text
from lib_dnp.params import DnpParamsError, parse_params
from lib_dnp.pipeline import ImageSpec, run_batch
from lib_dnp.rerank import CaptionReranker
from lib_dnp.testing.word_clip import WordClip, vector_image


def test_image_mode_keeps_the_caption_closest_to_the_dns_image():
    images = [vector_image([0.1, 0.9, 0.2]), vector_image([0.0, 0.2, 1.0])]
    candidates = [["a cat", "a dog", "a dog and a sky"], ["a cat", "a dog", "a sky"]]
    # image 1: cos with dog = 0.9/|v| > cos with dog+sky = 1.1/(√2|v|) ; image 2: sky
    assert CaptionReranker(WordClip(["cat", "dog", "sky"])).choose(
        "image", images, ["p", "p"], candidates
    ) == [1, 2]


def test_prompt_mode_keeps_the_caption_farthest_from_the_prompt():
    images = [vector_image([1, 0, 0])] * 2
    candidates = [["a cat", "a cat and a dog", "a sky"], ["a cat and a sky", "a cat", "a dog"]]
    picks = CaptionReranker(WordClip(["cat", "dog", "sky"])).choose(
        "prompt", images, ["a cat", "a cat and a sky"], candidates
    )
    # prompt 1 = x: "a sky" (cos 0); prompt 2 = (x + z)/√2: "a dog" (cos 0)
    assert picks == [2, 2]


def test_ties_go_to_the_first_candidate_and_bad_input_is_refused():
    clip = CaptionReranker(WordClip(["cat", "dog", "sky"]))
    assert clip.choose("image", [vector_image([1, 0, 0])], ["p"], [["a cat", "the cat"]]) == [0]
    with pytest.raises(ValueError, match="re-rank mode"):
        clip.choose("caption", [vector_image([1, 0, 0])], ["p"], [["a cat"]])
    with pytest.raises(ValueError, match="one prompt and one candidate list per image"):
        clip.choose("image", [vector_image([1, 0, 0])], [], [["a cat"]])


# --- the pipeline's re-rank step -------------------------------------------------------------------------------


def spec(seed: int, prompt: str = "a cat") -> ImageSpec:
    key = DnsKey(model="m", prompt=prompt, seed=seed, subseed=0, subseed_strength=0.0, sampler="Euler",
                 scheduler="s", steps=4, width=64, height=64, scale=7.0)  # fmt: skip
    return ImageSpec(prompt=prompt, negative="", key=key)


class CandidateCaptioner:
    """Proposes, for every DNS image, "a cat", "a dog" and "a sky" in that order."""

    def __init__(self):
        self.calls: list[tuple[str, int]] = []

    def caption(self, images):
        self.calls.append(("caption", len(images)))
        return ["a cat"] * len(images)

    def caption_candidates(self, images, count):
        self.calls.append(("candidates", count))
        return [["a cat", "a dog", "a sky"][:count] for _ in images]

    def settings_fingerprint(self):
        return "candidates"


def sample(indices):
    return [vector_image([0.0, 0.1, 1.0]) if i == 0 else vector_image([0.1, 1.0, 0.0]) for i in indices]


RERANK_IMAGE = parse_params({"enabled": True, "rerank": "image", "candidates": 3})


def test_run_batch_picks_each_images_candidate():
    captioner = CandidateCaptioner()
    results = run_batch(
        [spec(1), spec(2)],
        RERANK_IMAGE,
        sample,
        captioner,
        reranker=CaptionReranker(WordClip(["cat", "dog", "sky"])),
    )
    assert [r.caption for r in results] == ["a sky", "a dog"] and [r.negative for r in results] == [
        "a sky",
        "a dog",
    ]
    assert captioner.calls == [("candidates", 3)] and all(r.warning is None and r.ok for r in results)


@pytest.mark.parametrize(
    "reranker",
    [None, CaptionReranker(WordClip(["cat", "dog", "sky"], fail=OSError("no CLIP weights offline")))],
)
def test_failed_reranking_keeps_the_first_candidate_warns_and_caches_nothing(reranker):
    cache = DnsCache()
    results = run_batch([spec(1)], RERANK_IMAGE, sample, CandidateCaptioner(), cache, reranker=reranker)
    assert results[0].caption == "a cat" and results[0].ok and results[0].dns_image is not None
    assert "re-ranking failed" in results[0].warning
    assert len(cache.captions) == 0  # the next run, with a working CLIP, must re-rank


SKY_CAT = spec(1, "a cat and a sky")


def test_cached_captions_never_cross_rerank_settings():
    cache, reranker = DnsCache(), CaptionReranker(WordClip(["cat", "dog", "sky"]))
    run_batch([SKY_CAT], RERANK_IMAGE, sample, CandidateCaptioner(), cache, reranker=reranker)
    prompt_mode = parse_params({"enabled": True, "rerank": "prompt", "candidates": 3})
    captioner = CandidateCaptioner()
    [result] = run_batch([SKY_CAT], prompt_mode, sample, captioner, cache, reranker=reranker)
    assert captioner.calls == [("candidates", 3)] and not result.from_cache
    assert result.caption == "a dog"  # the one farthest from "a cat and a sky"
    off = CandidateCaptioner()
    [plain] = run_batch([SKY_CAT], parse_params({"enabled": True}), sample, off, cache)
    assert off.calls == [("caption", 1)] and plain.caption == "a cat"
    again = CandidateCaptioner()
    [hit] = run_batch([SKY_CAT], RERANK_IMAGE, sample, again, cache, reranker=reranker)
    assert hit.from_cache and hit.caption == "a sky" and again.calls == []


def test_rerank_params():
    assert parse_params({}).rerank == "off" and parse_params({}).candidates == 4
    with pytest.raises(DnpParamsError, match="candidates"):
        parse_params({"candidates": 1})
    with pytest.raises(DnpParamsError, match="rerank"):
        parse_params({"rerank": "best"})
    assert settings_text(parse_params({"enabled": True})) == "mode=auto"
    assert settings_text(RERANK_IMAGE) == "mode=auto; rerank=image; candidates=3"


# --- real models: tiny BLIP candidates, the diffusers front end ------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from lib_dnp.testing.tiny_captioner import build_tiny_blip
    from lib_dnp.testing.tiny_clip import build_tiny_clip

    folder = tmp_path_factory.mktemp("rerank")
    return {"blip": build_tiny_blip(str(folder / "blip")), "clip": build_tiny_clip(str(folder / "clip"))}


def noise(seed: int) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8))


def test_tiny_blip_proposes_beam_candidates(tiny):
    from lib_dnp.captioners import HFCaptioner

    captioner = HFCaptioner(tiny["blip"], max_tokens=6)
    images = [noise(1), noise(2), noise(3)]
    groups = captioner.caption_candidates(images, 3)
    assert len(groups) == 3 and all(1 <= len(group) <= 3 for group in groups)
    assert all(len(set(group)) == len(group) and all(group) for group in groups)
    assert sum(len(group) for group in groups) > 3  # beams differ
    captioner.num_beams = 3  # the first candidate is the beam-search caption
    assert [group[0] for group in groups] == [
        text or groups[i][0] for i, text in enumerate(captioner.caption(images))
    ]
    assert captioner.caption_candidates(images, 3) == groups


def test_diffusers_front_end_uses_the_rerankers_choice(tiny, tmp_path):
    from lib_dnp.frontends import diffusers_problem

    if diffusers_problem():
        pytest.skip(diffusers_problem())
    from diffusers import StableDiffusionPipeline

    from lib_dnp.captioners import HFCaptioner
    from lib_dnp.clip_models import TransformersClipModel
    from lib_dnp.frontends.diffusers_frontend import generate
    from lib_dnp.testing.tiny_sd import build_tiny_sd_pipeline

    pipe = StableDiffusionPipeline.from_pretrained(
        build_tiny_sd_pipeline(str(tmp_path / "sd")), safety_checker=None
    )
    pipe.set_progress_bar_config(disable=True)
    captioner = HFCaptioner(tiny["blip"], max_tokens=6)
    reranker = CaptionReranker(TransformersClipModel(tiny["clip"]))
    for mode in ("image", "prompt"):
        params = parse_params({"enabled": True, "rerank": mode, "candidates": 4, "return_dns_images": True})
        made = generate(pipe, "a cat and a dog", [1, 2], steps=2, params=params, captioner=captioner,
                        reranker=reranker, progress=False)  # fmt: skip
        candidates = captioner.caption_candidates(made.dns_images, 4)
        picks = reranker.choose(mode, made.dns_images, made.prompts, candidates)
        assert made.captions == [group[pick] for group, pick in zip(candidates, picks)]
        assert made.negatives == made.captions and made.errors == [None, None]
