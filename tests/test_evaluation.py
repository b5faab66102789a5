"""The evaluation harness: prompt files, score arithmetic against hand-computed values, the CLIP backends on tiny
random models, the WebUI runner's requests and answers, and `python -m lib_dnp evaluate` end to end."""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import os

import numpy as np
import pytest
from PIL import Image

from lib_dnp.clip_models import TransformersClipModel, open_clip_problem
from lib_dnp.evaluation.prompts import EvalPrompt, object_parts, parse_prompts
from lib_dnp.evaluation.report import ScoredImage, markdown_table, summary
from lib_dnp.evaluation.runners import WebuiRunner, alwayson_args, infotext_value
from lib_dnp.evaluation.scoring import (
    IMAGENET_TEMPLATES,
    ImageScores,
    Scorer,
    clip_score,
    cosine,
    ensemble,
    template_texts,
)
from lib_dnp.params import parse_params
from lib_dnp.testing.word_clip import WordClip, vector_image

# --- prompt files ----------------------------------------------------------------------------------------------


def test_ae_json_keeps_groups_and_order():
    text = json.dumps({"animals": ["a cat and a dog"], "objects": ["a pink crown and a purple bow", " "]})
    assert parse_prompts(text) == [
        EvalPrompt("a cat and a dog", "animals"),
        EvalPrompt("a pink crown and a purple bow", "objects"),
    ]


def test_json_list_and_plain_lines():
    assert parse_prompts('["a red car"]') == [EvalPrompt("a red car")]
    assert parse_prompts("# comment\n a cat \n\na dog with a crown\n") == [
        EvalPrompt("a cat"),
        EvalPrompt("a dog with a crown"),
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [('{"animals": "a cat"}', "group 'animals'"), ("{oops", "not valid JSON"), ("# only\n\n", "no prompts")],
)
def test_bad_prompt_files(content, message):
    with pytest.raises(ValueError, match=message):
        parse_prompts(content)


def test_object_split_follows_attend_and_excite():
    assert object_parts("a cat and a dog") == ["a cat", "a dog"]
    assert object_parts("a dog with a crown") == ["a dog", "a crown"]
    assert object_parts("a cat with a hat and a dog") == ["a cat with a hat", "a dog"]  # " and " first
    assert object_parts("a red car") is None


# --- score arithmetic ------------------------------------------------------------------------------------------


def test_templates_as_attend_and_excite_writes_them():
    texts = template_texts("a cat")
    assert len(IMAGENET_TEMPLATES) == 80 and len(texts) == 80
    assert (
        texts[0] == "a bad photo of a cat." and "a photo of a cat." in texts
    )  # "of the a cat" -> "of a cat"
    assert "a sketch of a cat." in texts and not any("a a " in text for text in texts)


def test_known_values():
    assert cosine([1.0, 0.0], [3.0, 3.0]) == pytest.approx(1 / math.sqrt(2))
    assert clip_score(0.3) == pytest.approx(0.75) and clip_score(-0.2) == 0.0
    # normalised before the mean: the raw mean of (1, 0) and (0, 2) would point at (1, 2)
    np.testing.assert_allclose(ensemble([[1.0, 0.0], [0.0, 2.0]]), [1 / math.sqrt(2), 1 / math.sqrt(2)])


def test_scores_against_hand_computed_values():
    # "a cat": 78 templates embed as x, the two sketch templates as (x + z)/√2; the ensemble is their normalised
    # mean: direction (78 + √2, 0, √2). Same for "a dog" on y. The prompt's: 78·(x+y)/√2 + 2·(x+y+z)/√3.
    r2, r3 = math.sqrt(2), math.sqrt(3)
    cat = np.array([78 + r2, 0, r2]) / math.hypot(78 + r2, r2)
    full = np.array([78 / r2 + 2 / r3, 78 / r2 + 2 / r3, 2 / r3])
    full /= np.linalg.norm(full)
    scorer = Scorer(WordClip(["cat", "dog", "sketch"]), WordClip(["cat", "dog", "sketch"]))
    np.testing.assert_allclose(scorer.text_embedding("a cat"), cat)
    image = [0.6, 0.8, 0.0]
    [scores] = scorer.score([vector_image(image)], "a cat and a dog")
    assert scores.full_prompt == pytest.approx(0.6 * full[0] + 0.8 * full[1])
    assert scores.min_object == pytest.approx(0.6 * cat[0])  # the cat is the less visible object
    # CLIPScore text "A photo depicts a cat and a dog" → (x + y)/√2: cos = 1.4/√2, times 2.5
    assert scores.clip_score == pytest.approx(2.5 * 1.4 / r2)
    # "a sketch": every text is z; an image pointing away from z has a negative cosine, so CLIPScore 0
    [away] = scorer.score([vector_image([0.6, 0.8, -0.5])], "a sketch")
    assert away.full_prompt == pytest.approx(-0.5 / math.sqrt(1.25))
    assert away.min_object is None and away.clip_score == 0.0  # no objects to split


def scored(strategy, prompt, full, minimum, score, error=None):
    return ScoredImage(strategy, "", prompt, 0, "f.png", "", None, error, ImageScores(full, minimum, score))


def test_summary_means_and_standard_errors():
    items = [
        scored("empty", "a cat and a dog", 0.2, 0.1, 0.5),
        scored("empty", "a red car", 0.4, None, 0.7),
        scored("dnp", "a cat and a dog", 0.3, 0.2, 0.6, error="boom"),
    ]
    empty, dnp = summary(items)
    assert empty["images"] == 2 and empty["full_prompt"] == pytest.approx(0.3)
    assert empty["min_object"] == pytest.approx(0.1)  # over the prompts that split only, as A&E
    assert empty["full_prompt_se"] == pytest.approx(math.sqrt(0.02 / 2))  # sample variance 0.02, n = 2
    assert empty["min_object_se"] is None and dnp["dnp_errors"] == 1
    table = markdown_table([empty, dnp])
    assert "| empty | 2 | 0.3000 ± 0.1000 | 0.1000 |" in table and table.count("\n") == 3


# --- CLIP backends on tiny random models -----------------------------------------------------------------------


def noise_images(count: int, size: int = 40) -> list[Image.Image]:
    rng = np.random.default_rng(7)
    return [Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for _ in range(count)]


@pytest.fixture(scope="module")
def tiny_clip_folder(tmp_path_factory):
    from lib_dnp.testing.tiny_clip import build_tiny_clip

    return build_tiny_clip(str(tmp_path_factory.mktemp("clip") / "tiny-clip"))


def test_transformers_backend_matches_transformers_own_features(tiny_clip_folder):
    import torch
    from transformers import CLIPModel, CLIPProcessor

    images, texts = noise_images(3), ["a cat", "a dog and a cat", "dog " * 120]  # the last is truncated to 77
    clip = TransformersClipModel(tiny_clip_folder)
    rows = clip.encode_images(images)
    assert rows.shape == (3, 16)
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0)
    assert abs(rows[0] @ rows[1]) < 0.99  # the image matters
    model, processor = (
        CLIPModel.from_pretrained(tiny_clip_folder),
        CLIPProcessor.from_pretrained(tiny_clip_folder),
    )
    with torch.no_grad():
        reference = model(
            **processor(
                text=texts, images=images, padding=True, truncation=True, max_length=77, return_tensors="pt"
            )
        )
    np.testing.assert_allclose(rows, reference.image_embeds.numpy(), atol=1e-5)
    np.testing.assert_allclose(clip.encode_texts(texts), reference.text_embeds.numpy(), atol=1e-5)


@pytest.mark.skipif(bool(open_clip_problem()), reason=f"open-clip is not usable here: {open_clip_problem()}")
def test_open_clip_backend_on_a_tiny_architecture():
    import torch

    from lib_dnp.testing.tiny_clip import tiny_open_clip

    clip = tiny_open_clip()
    images = noise_images(2)
    rows = clip.encode_images(images)
    model, preprocess, tokenizer = clip._parts()
    with torch.no_grad():
        reference = model.encode_image(torch.stack([preprocess(image) for image in images]), normalize=True)
        texts = model.encode_text(tokenizer(["a cat", "a dog"]), normalize=True)
    np.testing.assert_allclose(rows, reference.numpy(), atol=1e-5)
    np.testing.assert_allclose(clip.encode_texts(["a cat", "a dog"]), texts.numpy(), atol=1e-5)
    assert clip.name == "open-clip dnp-tiny-clip (random weights)"


# --- the WebUI runner ------------------------------------------------------------------------------------------


def png_base64(color) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_infotext_values_are_read_like_the_webui_writes_them():
    text = 'a cat\nNegative prompt: x\nSteps: 20, DNP: mode=auto, DNP caption: "a dark, blurry room: empty", Seed: 3'
    assert infotext_value(text, "DNP caption") == "a dark, blurry room: empty"
    assert infotext_value(text, "Steps") == "20" and infotext_value(text, "DNP error") is None


def test_webui_requests_and_answers():
    calls = []

    def post(url, payload, timeout):
        calls.append((url, payload))
        seeds = list(range(payload["seed"], payload["seed"] + payload["batch_size"]))
        dnp = "alwayson_scripts" in payload
        infotexts = [
            f"p\nSteps: 2, Seed: {s}" + (f', DNP caption: "dark, seed {s}"' if dnp else "") for s in seeds
        ]
        info = {
            "all_seeds": seeds,
            "infotexts": infotexts,
            "all_negative_prompts": [f"neg {s}" for s in seeds],
        }
        return {"images": [png_base64((s, 0, 0)) for s in seeds], "info": json.dumps(info)}

    params = parse_params({"captioner": "blip-base"})
    runner = WebuiRunner("http://host:7860/", params, steps=2, cfg=5.0, batch_size=2, post=post)
    samples = runner.run(EvalPrompt("a cat"), [3, 4, 5], "dnp-rerank-image")
    assert [(c[1]["seed"], c[1]["batch_size"]) for c in calls] == [(3, 2), (5, 1)]
    assert calls[0][0] == "http://host:7860/sdapi/v1/txt2img"
    assert calls[0][1]["alwayson_scripts"] == {
        "DNP": {"args": [{"enabled": True, "captioner": "blip-base", "rerank": "image"}]}
    }
    assert [s.caption for s in samples] == ["dark, seed 3", "dark, seed 4", "dark, seed 5"]
    assert [s.image.getpixel((0, 0)) for s in samples] == [(3, 0, 0), (4, 0, 0), (5, 0, 0)]
    calls.clear()
    [plain] = runner.run(EvalPrompt("a cat"), [9], "generic")
    assert "alwayson_scripts" not in calls[0][1] and calls[0][1]["negative_prompt"].startswith("ugly")
    assert plain.caption is None and plain.error is None
    assert alwayson_args(parse_params({})) == {"enabled": True}


def test_webui_answer_without_caption_is_an_error_per_image():
    def post(url, payload, timeout):
        info = {"all_seeds": [1], "infotexts": ["p\nSteps: 2"], "all_negative_prompts": [""]}
        return {"images": [png_base64((0, 0, 0))], "info": json.dumps(info)}

    [sample] = WebuiRunner("http://h", parse_params({}), steps=2, cfg=5.0, post=post).run(
        EvalPrompt("a cat"), [1], "dnp"
    )
    assert "no DNP caption" in sample.error


# --- end to end ------------------------------------------------------------------------------------------------


def test_evaluate_end_to_end_on_tiny_models(tmp_path, monkeypatch):
    from lib_dnp.frontends import diffusers_problem

    if diffusers_problem():
        pytest.skip(diffusers_problem())
    from lib_dnp import cli
    from lib_dnp.frontends.models import demo_dir

    monkeypatch.setenv("DNP_DEMO_DIR", str(tmp_path / "demo"))
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps({"animals": ["a cat and a dog"], "objects": ["a red car"]}))
    out = tmp_path / "out"
    argv = ["evaluate", "--prompts", str(prompts), "--seeds", "2", "--first-seed", "5", "--steps", "2",
            "--strategies", "empty", "dnp", "dnp-rerank-image", "--max-tokens", "6", "--out", str(out)]  # fmt: skip
    assert cli.main(argv) == 0

    with open(out / "images.csv", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 2 * 2 * 3 and {r["seed"] for r in rows} == {"5", "6"}
    assert all(r["caption"] and r["negative"] == r["caption"] for r in rows if r["strategy"] != "empty")
    assert all(r["min_object"] == "" for r in rows if r["prompt"] == "a red car")
    clip = TransformersClipModel(os.path.join(demo_dir(), "tiny-clip"))  # the one evaluate used
    scorer = Scorer(clip, clip)
    for row in rows:
        [scores] = scorer.score([Image.open(out / row["file"])], row["prompt"])
        assert float(row["full_prompt"]) == pytest.approx(scores.full_prompt, abs=1e-6)
        assert float(row["clip_score"]) == pytest.approx(scores.clip_score, abs=1e-6)
        if scores.min_object is not None:
            assert float(row["min_object"]) == pytest.approx(scores.min_object, abs=1e-6)

    record = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    by_strategy = {entry["strategy"]: entry for entry in record["summary"]}
    assert list(by_strategy) == ["empty", "dnp", "dnp-rerank-image"]
    for strategy, entry in by_strategy.items():
        chosen = [float(r["full_prompt"]) for r in rows if r["strategy"] == strategy]
        assert entry["images"] == 4 and entry["full_prompt"] == pytest.approx(sum(chosen) / 4)
    assert "tiny random-weight demo CLIP" in record["notes"]["A&E CLIP scores"]
    assert (out / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| dnp-rerank-image | 4 |" in (out / "summary.md").read_text(encoding="utf-8")
