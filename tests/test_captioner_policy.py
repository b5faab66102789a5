"""Which captioners an API request may name (`registry.api_refusal`): registry captioners, models already in the
Hugging Face cache and captioner folders, with safetensors weights; any other hub model only where the owner allows
downloads. One answer for every refused spec, so that it tells nothing about the server's paths."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lib_dnp.captioners.registry import api_refusal

SNAPSHOT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(autouse=True)
def hf_home(tmp_path: Path) -> Iterator[Path]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("HF_HOME", str(tmp_path / "hf_home"))
        for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "TRANSFORMERS_CACHE"):
            patch.delenv(name, raising=False)
        yield tmp_path / "hf_home"


def model_files(folder: Path, weights: str = "model.safetensors") -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"model_type": "blip"}')
    (folder / weights).write_bytes(b"weights")
    return folder


def cache_model(hf_home: Path, model_id: str, weights: str = "model.safetensors") -> None:
    repo = hf_home / "hub" / ("models--" + model_id.replace("/", "--"))
    model_files(repo / "snapshots" / SNAPSHOT, weights)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(SNAPSHOT)


@pytest.mark.parametrize("spec", ["blip-large", "Salesforce/blip2-opt-2.7b", " blip-base "])
def test_registry_captioners_are_allowed_cached_or_not(spec: str) -> None:
    assert api_refusal(spec, hub_downloads=False) is None


def test_cached_hub_models_and_captioner_folders_are_allowed(hf_home: Path, tmp_path: Path) -> None:
    cache_model(hf_home, "org/cached")
    assert api_refusal("org/cached", hub_downloads=False) is None
    assert api_refusal(str(model_files(tmp_path / "folder")), hub_downloads=False) is None


def test_pickles_and_uncached_models_are_refused_unless_downloads_are_allowed(
    hf_home: Path, tmp_path: Path
) -> None:
    cache_model(hf_home, "org/pickled", weights="pytorch_model.bin")
    for spec in (
        "org/pickled",
        "org/not-cached",
        str(model_files(tmp_path / "pickled", "pytorch_model.bin")),
    ):
        message = api_refusal(spec, hub_downloads=False)
        assert message and "not available to API requests" in message and "Settings › DNP" in message
    assert api_refusal("org/not-cached", hub_downloads=True) is None
    # a path is never a download, whatever the owner allows
    assert api_refusal(str(tmp_path / "missing" / "folder"), hub_downloads=True)


def test_one_answer_whether_a_path_exists_or_not(tmp_path: Path) -> None:
    (tmp_path / "not-a-model").mkdir()
    specs = [str(tmp_path / "missing"), str(tmp_path / "not-a-model"), str(tmp_path), "org/not-cached"]
    answers = {api_refusal(spec, hub_downloads=False).replace(repr(spec), "<spec>") for spec in specs}
    assert len(answers) == 1, answers
