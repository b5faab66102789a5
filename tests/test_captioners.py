"""The captioner layer: caption cleanup, the registry, HFCaptioner on tiny random-weight BLIP / BLIP-2 / GIT
models built offline, and the one-model pool. Runs on the WebUI's transformers 4.30.2 and on current 5.x."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from lib_dnp.captioners import (
    DEFAULT_CAPTIONER,
    REGISTRY,
    CaptionerError,
    CaptionerNotFound,
    CaptionerPool,
    CaptionSettings,
    HFCaptioner,
    available_offline,
    clean_caption,
    resolve,
)
from lib_dnp.captioners.registry import download_command
from lib_dnp.testing import BUILDERS
from lib_dnp.testing.tiny_captioner import main as build_main


@pytest.fixture(scope="module", autouse=True)
def offline_empty_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """No test may reach the network or the user's Hugging Face cache."""
    hf_home = tmp_path_factory.mktemp("hf_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("HF_HOME", str(hf_home))
        for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "TRANSFORMERS_CACHE"):
            patch.delenv(name, raising=False)
        yield hf_home


@pytest.fixture(scope="module")
def tiny_folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Each tiny captioner, built once for the module."""
    root = tmp_path_factory.mktemp("tiny_captioners")
    return {kind: build(str(root / kind)) for kind, build in BUILDERS.items()}


@pytest.fixture(scope="module")
def images() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    gradient = np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (64, 1))
    return [
        Image.new("RGB", (40, 40), (255, 0, 0)),
        Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)),
        Image.fromarray(gradient, "L"),  # not RGB: the captioner converts it
    ]


# --- clean_caption --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("arafed man sitting on a bench", "man sitting on a bench"),
        ("there is an arafed man riding a horse", "there is a man riding a horse"),
        ("an araffe elephant standing in a field", "an elephant standing in a field"),
        ("a Araffe with an arafe in the snow", "a with an in the snow"),
        ("Arafed woman in a red dress", "woman in a red dress"),
        ("two araffes near a arrafed owl", "two near an owl"),
        ("a man arafian", "a man"),
        ("the arafat building", "the arafat building"),
        ("  a   dog\n on\tthe beach  ", "a dog on the beach"),
        ("a man sitting on a a a a", "a man sitting on a"),
        ("a dog on the beach on the beach on the beach", "a dog on the beach"),
        ("a dog on the beach on the beach on the", "a dog on the beach"),
        ("a cat sitting on a couch couch couch.", "a cat sitting on a couch"),
        ("a trip to bora bora", "a trip to bora bora"),
        ("an hour glass on a table", "an hour glass on a table"),
        ("...a blurry photo,", "a blurry photo"),
        ("a a a a", "a"),
        ("arafed", ""),
        ("", ""),
        ("  .,;  ", ""),
    ],
)
def test_clean_caption(raw: str, clean: str) -> None:
    assert clean_caption(raw) == clean


@given(st.lists(st.sampled_from([*"ab .,\n", "arafed", "an ", "the "]), max_size=30).map("".join))
def test_clean_caption_is_idempotent(raw: str) -> None:
    once = clean_caption(raw)
    assert clean_caption(once) == once
    assert once == once.strip() and "  " not in once


# --- registry -------------------------------------------------------------------------------------------------


def test_registry_entries() -> None:
    assert DEFAULT_CAPTIONER in REGISTRY
    assert resolve("blip2-opt-2.7b") == "Salesforce/blip2-opt-2.7b"
    assert resolve("git-large-coco") == "microsoft/git-large-coco"
    for key, entry in REGISTRY.items():
        assert entry.key == key and resolve(key) == entry.model_id
        assert entry.family in {"blip", "blip-2", "git"} and entry.approx_fp16_gb > 0


@pytest.mark.parametrize("spec", ["Salesforce/blip-image-captioning-base", "/models/my-blip", "./blip"])
def test_resolve_passes_other_specs_through(spec: str) -> None:
    assert resolve(f" {spec} ") == spec


def test_available_offline_local_folder(tiny_folders: dict[str, str], tmp_path: Path) -> None:
    assert available_offline(tiny_folders["blip"])
    assert not available_offline(str(tmp_path))  # a folder without config.json and weights


def test_available_offline_missing_hub_model() -> None:
    assert not available_offline("blip-large")
    assert not available_offline("nobody/no-such-captioner")
    assert not available_offline("not a valid repo id!")


def _fake_cache_entry(hf_home: Path, model_id: str, files: dict[str, str]) -> None:
    """The layout huggingface_hub writes: refs/main names the snapshot that holds the files."""
    repo = hf_home / "hub" / ("models--" + model_id.replace("/", "--"))
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name, text in files.items():
        (snapshot / name).write_text(text)


def test_available_offline_reads_the_hub_cache(offline_empty_hub: Path) -> None:
    _fake_cache_entry(offline_empty_hub, "dnp-test/whole", {"config.json": "{}", "model.safetensors": ""})
    _fake_cache_entry(offline_empty_hub, "dnp-test/no-weights", {"config.json": "{}"})
    index = json.dumps({"weight_map": {"a": "model-1.safetensors", "b": "model-2.safetensors"}})
    _fake_cache_entry(
        offline_empty_hub,
        "dnp-test/half-sharded",
        {"config.json": "{}", "model.safetensors.index.json": index, "model-1.safetensors": ""},
    )
    assert available_offline("dnp-test/whole")
    assert not available_offline("dnp-test/no-weights")
    assert not available_offline("dnp-test/half-sharded")


# --- HFCaptioner on tiny models ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_captions_depend_on_the_image(
    kind: str, tiny_folders: dict[str, str], images: list[Image.Image]
) -> None:
    captioner = HFCaptioner(tiny_folders[kind], max_tokens=8)
    assert not captioner.loaded  # construction is cheap: nothing loads before the first caption
    captions = captioner.caption(images)
    assert captioner.loaded
    assert len(captions) == len(images) and all(isinstance(text, str) and text for text in captions)
    assert len(set(captions)) >= 2, captions
    assert captioner.caption(images) == captions
    assert captioner.caption([images[1], images[0]]) == [captions[1], captions[0]]


def test_max_tokens_bounds_the_caption(tiny_folders: dict[str, str], images: list[Image.Image]) -> None:
    captioner = HFCaptioner(tiny_folders["blip"], max_tokens=3)
    # Each vocabulary entry of the tiny model is one word, so words <= generated tokens.
    short = captioner.caption(images)
    assert all(1 <= len(text.split()) <= 3 for text in short), short
    captioner.max_tokens = 12
    long = captioner.caption(images)
    assert max(len(text.split()) for text in long) > 3, long


def test_unload_frees_and_reloads(tiny_folders: dict[str, str], images: list[Image.Image]) -> None:
    captioner = HFCaptioner(tiny_folders["git"], max_tokens=6)
    first = captioner.caption(images[:2])
    captioner.offload()  # already on the CPU: a no-op that keeps the model
    assert captioner.loaded
    captioner.unload()
    assert not captioner.loaded and captioner._model is None and captioner._processor is None
    assert captioner.caption(images[:2]) == first
    assert captioner.loaded


def test_dtype_is_honoured_and_changes_recast(
    tiny_folders: dict[str, str], images: list[Image.Image]
) -> None:
    captioner = HFCaptioner(tiny_folders["blip"], dtype=torch.float16, max_tokens=4)
    assert captioner.caption(images[:1])[0]
    assert next(captioner._model.parameters()).dtype == torch.float16  # loaded so, not cast after loading
    captioner.dtype = None  # automatic: fp32 off CUDA
    assert captioner.caption(images[:1])[0]
    assert next(captioner._model.parameters()).dtype == torch.float32


def test_empty_batch_loads_nothing(tiny_folders: dict[str, str]) -> None:
    captioner = HFCaptioner(tiny_folders["blip"])
    assert captioner.caption([]) == []
    assert not captioner.loaded


def test_settings_fingerprint_changes_with_every_setting_that_changes_captions() -> None:
    base: dict = {"spec": "blip-large", "max_tokens": 20, "num_beams": 2, "dtype": torch.float32}
    fingerprint = HFCaptioner(**base).settings_fingerprint()
    assert fingerprint == HFCaptioner(**base).settings_fingerprint()
    for change in ({"spec": "blip-base"}, {"max_tokens": 21}, {"num_beams": 3}, {"dtype": torch.float16}):
        assert HFCaptioner(**{**base, **change}).settings_fingerprint() != fingerprint, change


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        HFCaptioner("blip-large", max_tokens=0)
    with pytest.raises(ValueError, match="num_beams"):
        HFCaptioner("blip-large", num_beams=0)


def test_missing_hub_model_names_id_and_remedy(images: list[Image.Image]) -> None:
    captioner = HFCaptioner("blip-large")
    with pytest.raises(CaptionerNotFound) as raised:
        captioner.caption(images[:1])
    message = str(raised.value)
    assert "Salesforce/blip-image-captioning-large" in message
    command = download_command()
    assert f"`{command} Salesforce/blip-image-captioning-large`" in message
    # the command the message names is one this environment has (`hf` on current hubs, not `huggingface-cli`)
    assert os.path.isfile(os.path.join(os.path.dirname(sys.executable), command.split()[0]))
    assert not captioner.loaded


def test_missing_folder_is_not_found(tmp_path: Path, images: list[Image.Image]) -> None:
    with pytest.raises(CaptionerNotFound, match="does not exist"):
        HFCaptioner(str(tmp_path / "nowhere" / "model")).caption(images[:1])


def test_unsupported_model_is_a_captioner_error(tmp_path: Path, images: list[Image.Image]) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 8}))
    with pytest.raises(CaptionerError) as raised:
        HFCaptioner(str(tmp_path)).caption(images[:1])
    assert not isinstance(raised.value, CaptionerNotFound)
    assert raised.value.__cause__ is not None


def test_caption_failure_is_a_captioner_error(
    tiny_folders: dict[str, str], images: list[Image.Image]
) -> None:
    captioner = HFCaptioner(tiny_folders["blip"])
    captioner.load()

    def out_of_memory(**kwargs: Any) -> Any:
        raise RuntimeError("CUDA out of memory")

    captioner._model.generate = out_of_memory
    with pytest.raises(CaptionerError, match="failed to caption: CUDA out of memory") as raised:
        captioner.caption(images[:1])
    assert isinstance(raised.value.__cause__, RuntimeError)


# --- CaptionerPool --------------------------------------------------------------------------------------------


class CountingFactory:
    """Makes real HFCaptioners and counts constructions and model loads."""

    def __init__(self) -> None:
        self.made: list[HFCaptioner] = []
        self.loads = 0

    def __call__(self, spec: str, **settings: Any) -> HFCaptioner:
        captioner = HFCaptioner(spec, **settings)
        load_from = captioner._load_from

        def counted_load(*args: Any) -> Any:
            self.loads += 1
            return load_from(*args)

        captioner._load_from = counted_load  # type: ignore[method-assign]
        self.made.append(captioner)
        return captioner


def test_pool_reuses_the_model_when_only_settings_change(
    tiny_folders: dict[str, str], images: list[Image.Image]
) -> None:
    factory = CountingFactory()
    pool = CaptionerPool(factory)
    first = pool.get(tiny_folders["blip"], settings=CaptionSettings(max_tokens=3))
    assert not first.loaded
    short = first.caption(images)
    again = pool.get(tiny_folders["blip"] + os.sep, settings=CaptionSettings(max_tokens=10, num_beams=2))
    assert again.captioner is first.captioner and first.settings == CaptionSettings(max_tokens=3)
    assert len(again.caption(images)) == 3
    assert factory.loads == 1 and len(factory.made) == 1
    assert first.caption(images) == short  # the other request's settings did not stick to the shared model

    other = pool.get(tiny_folders["git"], settings=CaptionSettings(max_tokens=3))
    assert other.captioner is not first.captioner and not first.loaded  # the old model went first
    assert len(factory.made) == 2 and pool.current is other.captioner
    pool.unload()
    assert pool.current is None and not other.loaded


def test_pool_keys_registry_names_and_ids_alike() -> None:
    pool = CaptionerPool(CountingFactory())
    assert pool.get("blip-large").captioner is pool.get("Salesforce/blip-image-captioning-large").captioner


# --- packaging ------------------------------------------------------------------------------------------------


def test_import_is_cheap() -> None:
    code = "import sys, lib_dnp.captioners, lib_dnp.testing; print(sorted({'torch', 'transformers'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_builder_cli_writes_safetensors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build_main(["--kind", "git", str(tmp_path / "git")])
    files = set(os.listdir(tmp_path / "git"))
    assert {"config.json", "model.safetensors"} <= files and "pytorch_model.bin" not in files
    assert capsys.readouterr().out.strip() == str(tmp_path / "git")
    assert sum((tmp_path / "git" / name).stat().st_size for name in files) < 5_000_000
