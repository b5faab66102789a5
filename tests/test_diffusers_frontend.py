"""The diffusers front end end to end, on tiny random-weight models built once for the module (no downloads).

Images are compared as uint8 pixels. Where two computations differ only in batching or in how the same sums are
grouped (a hand-written loop against the pipeline), they may differ by float rounding: the tolerance is 2 of 255
levels, while the changes the tests must catch (a wrong guidance scale, another seed) move pixels by tens.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from lib_dnp.frontends import diffusers_problem

_PROBLEM = diffusers_problem()
if _PROBLEM:  # e.g. diffusers > 0.31 next to the WebUI's transformers 4.30.2: its pipelines do not import
    pytest.skip(_PROBLEM, allow_module_level=True)

import torch  # noqa: E402

from lib_dnp.captioners import CaptionerError, HFCaptioner  # noqa: E402
from lib_dnp.frontends.diffusers_frontend import generate, sample_dns  # noqa: E402
from lib_dnp.guidance import dns  # noqa: E402
from lib_dnp.params import parse_params  # noqa: E402
from lib_dnp.testing.tiny_captioner import build_tiny_blip  # noqa: E402
from lib_dnp.testing.tiny_sd import build_tiny_sd_pipeline  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOLERANCE = 2  # uint8 levels, see the module docstring
STEPS = 2
CFG = 7.5
AUTO = parse_params({"enabled": True})


def pixels(image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def max_diff(a, b) -> int:
    return int(np.abs(pixels(a) - pixels(b)).max())


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models gain nothing from threads, and on a busy 2-core machine spinning OpenMP threads make the
    module several times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    return build_tiny_sd_pipeline(str(folder / "sd")), build_tiny_blip(str(folder / "blip"))


@pytest.fixture(scope="module")
def pipe(models):
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(models[0], safety_checker=None)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def captioner(models):
    return HFCaptioner(models[1], device="cpu", max_tokens=8)


def plain_call(pipe, prompt: str, negative: str, seed: int, guidance: float = CFG, steps: int = STEPS):
    generator = torch.Generator().manual_seed(seed)
    return pipe(
        prompt=prompt, negative_prompt=negative, num_inference_steps=steps, guidance_scale=guidance,
        generator=generator,
    ).images[0]  # fmt: skip


def test_dnp_image_is_a_plain_call_with_the_composed_negative(pipe, captioner):
    result = generate(
        pipe,
        "a cat",
        [1],
        negative="blurry",
        steps=STEPS,
        cfg=CFG,
        params=AUTO,
        captioner=captioner,
        progress=False,
    )
    caption = result.captions[0]
    assert result.errors == [None]
    assert caption and result.negatives == [f"blurry, {caption}"]
    reference = plain_call(pipe, "a cat", result.negatives[0], seed=1)
    assert max_diff(result.dnp_images[0], reference) == 0  # the same call: pixel-identical
    assert max_diff(result.plain_images[0], plain_call(pipe, "a cat", "blurry", seed=1)) == 0
    assert max_diff(result.dnp_images[0], result.plain_images[0]) > 10  # the caption did reach the negative


def euler_dns_reference(pipe, prompt: str, seed: int, steps: int, scale: float) -> np.ndarray:
    """Eq. 19 written out: an Euler loop whose guidance is `lib_dnp.guidance.dns`, no CFG involved."""
    from diffusers import EulerDiscreteScheduler

    scheduler = EulerDiscreteScheduler.from_config(pipe.scheduler.config)
    scheduler.set_timesteps(steps)

    def encode(text: str) -> torch.Tensor:
        tokens = pipe.tokenizer(
            [text], padding="max_length", max_length=pipe.tokenizer.model_max_length, truncation=True,
            return_tensors="pt",
        )  # fmt: skip
        return pipe.text_encoder(tokens.input_ids)[0]

    with torch.no_grad():
        empty, cond = encode(""), encode(prompt)
        size = pipe.unet.config.sample_size
        latents = torch.randn((1, 4, size, size), generator=torch.Generator().manual_seed(seed))
        latents = latents * scheduler.init_noise_sigma
        for t in scheduler.timesteps:
            x = scheduler.scale_model_input(latents, t)
            eps_empty = pipe.unet(x, t, encoder_hidden_states=empty).sample
            eps_prompt = pipe.unet(x, t, encoder_hidden_states=cond).sample
            latents = scheduler.step(dns(eps_empty, eps_prompt, scale), t, latents).prev_sample
        image = pipe.vae.decode(latents / pipe.vae.config.scaling_factor).sample
    return ((image[0] / 2 + 0.5).clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.int16)


def test_dns_image_is_eq19_at_scale_s(pipe):
    scale = 5.0
    image = sample_dns(pipe, ["a cat"], [3], steps=STEPS, scale=scale, progress=False)[0]
    reference = euler_dns_reference(pipe, "a cat", 3, STEPS, scale)
    assert int(np.abs(pixels(image) - reference).max()) <= TOLERANCE
    # The scale mapping matters: CFG with the prompts swapped at s (not s + 1) is eq. 19 at s - 1.
    wrong = plain_call(pipe, "", "a cat", seed=3, guidance=scale)
    assert int(np.abs(pixels(wrong) - reference).max()) > 10 * TOLERANCE
    assert (
        int(np.abs(pixels(wrong) - euler_dns_reference(pipe, "a cat", 3, STEPS, scale - 1)).max())
        <= TOLERANCE
    )


class HashCaptioner:
    """Captions an image with a digest of its pixels, so each caption names the image it came from."""

    def __init__(self):
        self.calls = 0

    def caption(self, images):
        self.calls += 1
        return [f"image {hashlib.sha256(pixels(image).tobytes()).hexdigest()[:12]}" for image in images]

    def settings_fingerprint(self) -> str:
        return "hash"


def test_each_seed_of_a_batch_gets_the_caption_of_its_own_dns_image(pipe):
    captioner = HashCaptioner()
    run = dict(
        negative="", steps=STEPS, cfg=CFG, params=AUTO, captioner=captioner, plain=False, progress=False
    )
    batch = generate(pipe, "a cat", [11, 12], **run)
    assert captioner.calls == 1  # one batched captioning call
    alone = [generate(pipe, "a cat", [seed], **run) for seed in (11, 12)]
    assert batch.captions[0] != batch.captions[1]
    for i, single in enumerate(alone):
        assert batch.captions[i] == HashCaptioner().caption([batch.dns_images[i]])[0]
        assert batch.negatives[i] == batch.captions[i]
        # Each image's noise depends on its seed alone: its place in the batch changes nothing.
        assert max_diff(batch.dns_images[i], single.dns_images[0]) <= TOLERANCE
        assert max_diff(batch.dns_images[i], alone[1 - i].dns_images[0]) > 10 * TOLERANCE


class BrokenCaptioner:
    def caption(self, images):
        raise CaptionerError("[DNP] captioner 'broken' failed to caption: out of memory")

    def settings_fingerprint(self) -> str:
        return "broken"


def test_a_failing_captioner_keeps_the_users_negative_and_reports_the_error(pipe):
    result = generate(
        pipe, "a cat", [5], negative="blurry", steps=STEPS, cfg=CFG, params=AUTO, captioner=BrokenCaptioner(),
        progress=False,
    )  # fmt: skip
    assert result.negatives == ["blurry"]
    assert result.captions == [None]
    assert "out of memory" in result.errors[0]
    assert result.dns_images[0] is not None  # the DNS pass itself worked
    assert "dnp" not in result.timings  # nothing changed, so the plain image is the DNP image
    assert max_diff(result.dnp_images[0], plain_call(pipe, "a cat", "blurry", seed=5)) == 0


def test_dns_steps_and_scale_come_from_the_params(pipe):
    params = parse_params({"enabled": True, "dns_steps": 0.25, "dns_scale": 3.0})
    result = generate(
        pipe,
        "a dog",
        [2],
        steps=6,
        cfg=CFG,
        params=params,
        captioner=HashCaptioner(),
        plain=False,
        progress=False,
    )
    assert (result.dns_steps, result.dns_scale) == (2, 3.0)  # round(6 · 0.25) = 2 (banker's rounding of 1.5)
    expected = sample_dns(pipe, ["a dog"], [2], steps=2, scale=3.0, progress=False)[0]
    assert max_diff(result.dns_images[0], expected) == 0
    disabled = generate(
        pipe, "a dog", [2], steps=STEPS, params=parse_params({}), captioner=None, progress=False
    )
    assert disabled.dnp_images == [] and len(disabled.plain_images) == 1


def test_cli_writes_the_comparison_and_the_record(tmp_path):
    path = os.pathsep.join(
        filter(None, [REPO, os.environ.get("PYTHONPATH")])
    )  # this checkout, wherever cwd is
    env = {**os.environ, "DNP_DEMO_DIR": str(tmp_path / "demo"), "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "lib_dnp", "generate", "--prompt", "a cat", "--seed", "1", "--steps", "2",
               "--out", "tmp"]  # fmt: skip
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    assert "random-weight demo models" in done.stderr
    out = tmp_path / "tmp"
    for name in ("comparison.png", "seed1-plain.png", "seed1-dns.png", "seed1-dnp.png"):
        assert (out / name).is_file(), name
    record = json.loads((out / "record.json").read_text(encoding="utf-8"))
    image = record["images"][0]
    assert image["seed"] == 1 and image["error"] is None
    assert image["caption"] and image["negative"] == image["caption"]
    assert record["settings"]["steps"] == 2 and record["settings"]["dns_steps"] == 2
    assert record["demo_models"] is True and record["versions"]["diffusers"]
    assert {"plain", "dns", "caption", "dnp"} <= set(record["timings"])


def test_cli_options_come_from_the_params_model(capsys):
    from lib_dnp.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["generate", "--prompt", "a cat", "--dns-steps", "2"])
    assert exit_info.value.code == 2
    assert (
        "--dns-steps: ensure this value is less than or equal to 1.0" in capsys.readouterr().err
    )  # the model's
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    help_text = capsys.readouterr().out
    assert "Fraction of the main pass" in help_text  # the params model's own description
    from lib_dnp.frontends.options import NOT_OPTIONS
    from lib_dnp.params import FIELDS

    for name in FIELDS:  # every option of the model, so a new field cannot be forgotten here
        assert (f"--{name.replace('_', '-')} " in help_text) == (name not in NOT_OPTIONS), name


def test_importing_the_cli_does_not_import_diffusers():
    code = "import sys, lib_dnp, lib_dnp.cli, lib_dnp.frontends; sys.exit('diffusers' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO, timeout=60).returncode == 0


def test_missing_diffusers_is_explained(monkeypatch):
    monkeypatch.setitem(sys.modules, "diffusers", None)  # import diffusers now raises ImportError
    assert "pip install '.[diffusers]'" in diffusers_problem()
