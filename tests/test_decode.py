"""The fast greedy BLIP decoder (lib_dnp.captioners.decode) against transformers' own greedy `generate`, token for
token, on a tiny random-weight BLIP built offline; and HFCaptioner's choice between the two."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from lib_dnp.captioners import HFCaptioner, decode
from lib_dnp.testing.tiny_captioner import build_tiny_blip, build_tiny_git


@pytest.fixture(scope="module")
def blip_folder(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_tiny_blip(str(tmp_path_factory.mktemp("decode") / "blip"))


@pytest.fixture(scope="module")
def images() -> list[Image.Image]:
    rng = np.random.default_rng(3)
    noise = [Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)) for _ in range(5)]
    return [*noise, Image.new("RGB", (40, 40), (255, 0, 0)), Image.new("RGB", (32, 32), (0, 0, 255))]


def loaded(folder: str, **settings) -> HFCaptioner:
    captioner = HFCaptioner(folder, **settings)
    captioner.load()
    return captioner


def pixel_values(captioner: HFCaptioner, images: list[Image.Image]) -> torch.Tensor:
    return captioner._model_inputs(images)["pixel_values"]


def generate_greedy(model, pixels: torch.Tensor, max_tokens: int) -> torch.Tensor:
    with torch.inference_mode():
        return model.generate(pixel_values=pixels, max_new_tokens=max_tokens, num_beams=1, do_sample=False)


def fast_greedy(model, pixels: torch.Tensor, max_tokens: int) -> torch.Tensor:
    with torch.inference_mode():
        return decode.BlipDecoder(model, max_tokens, use_graph=False).decode(pixels)


@pytest.mark.parametrize("max_tokens", [1, 7, 30])
def test_fast_decode_returns_generates_tokens(blip_folder, images, max_tokens):
    captioner = loaded(blip_folder)
    pixels = pixel_values(captioner, images)
    expected = generate_greedy(captioner._model, pixels, max_tokens)
    assert torch.equal(fast_greedy(captioner._model, pixels, max_tokens), expected)
    assert expected.shape == (len(images), max_tokens + 1)  # the tiny model never says [SEP] by itself


def test_fast_decode_stops_and_pads_like_generate(blip_folder, images):
    """Make a word the tiny model often says its end token: rows then end at different steps, and `generate` pads
    the rows that ended and stops once all have."""
    captioner = loaded(blip_folder)
    pixels = pixel_values(captioner, images)
    free_running = generate_greedy(captioner._model, pixels, 30)[:, 1:]
    words, counts = free_running.unique(return_counts=True)
    text = captioner._model.config.text_config
    text.sep_token_id = int(words[counts.argmax()])  # the most frequent word
    expected = generate_greedy(captioner._model, pixels, 30)
    ended = (expected[:, 1:] == text.sep_token_id).any(dim=1)
    assert ended.any()  # the case under test happens
    pads_after_end = (expected == text.pad_token_id).any(dim=1)
    assert pads_after_end.any() or expected.shape[1] < 31
    assert torch.equal(fast_greedy(captioner._model, pixels, 30), expected)


def test_captioner_uses_the_fast_decoder_when_asked_and_captions_the_same(blip_folder, images):
    slow = HFCaptioner(blip_folder, max_tokens=20, fast_decode=False)
    fast = HFCaptioner(blip_folder, max_tokens=20, fast_decode=True)
    assert fast.caption(images) == slow.caption(images)
    assert fast._decoder is not None and slow._decoder is None
    fast.max_tokens = 9
    assert fast.caption(images[:2]) == HFCaptioner(blip_folder, max_tokens=9, fast_decode=False).caption(
        images[:2]
    )
    assert fast._decoder.max_tokens == 9


def test_on_cpu_the_default_is_generate(blip_folder, images):
    captioner = HFCaptioner(blip_folder, max_tokens=5)
    captioner.caption(images[:1])
    assert captioner._decoder is None


def test_beams_other_models_and_processors_keep_generate(blip_folder, tmp_path, images):
    captioner = loaded(blip_folder)
    model = captioner._model
    assert decode.supports(model, num_beams=1, max_tokens=30)
    assert not decode.supports(model, num_beams=2, max_tokens=30)
    assert not decode.supports(
        model, num_beams=1, max_tokens=model.config.text_config.max_position_embeddings + 1
    )
    model.text_decoder.generation_config.repetition_penalty = 1.3
    assert not decode.supports(model, num_beams=1, max_tokens=30)
    git = loaded(build_tiny_git(str(tmp_path / "git")), fast_decode=True)
    assert not decode.supports(git._model, num_beams=1, max_tokens=30)
    assert git.caption(images[:1]) and git._decoder is None


def test_a_failing_fast_decoder_falls_back_to_generate(blip_folder, images, monkeypatch):
    expected = HFCaptioner(blip_folder, max_tokens=6, fast_decode=False).caption(images[:2])
    captioner = HFCaptioner(blip_folder, max_tokens=6, fast_decode=True)

    def broken(self, pixels):
        raise RuntimeError("no graphs here")

    monkeypatch.setattr(decode.BlipDecoder, "decode", broken)
    assert captioner.caption(images[:2]) == expected
    assert captioner._fast_failed


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")
def test_cuda_graph_decode_returns_generates_tokens(blip_folder, images):
    captioner = loaded(blip_folder, device="cuda", dtype=torch.float32)
    captioner._place()
    pixels = pixel_values(captioner, images).to("cuda")
    expected = generate_greedy(captioner._model, pixels, 30)
    decoder = decode.BlipDecoder(captioner._model, 30, use_graph=True)
    with torch.inference_mode():
        for _ in range(2):  # the second call replays the captured graph
            assert torch.equal(decoder.decode(pixels), expected)
