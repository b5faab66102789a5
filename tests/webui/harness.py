"""The real-WebUI harness: fixtures built once, WebUI servers started on free ports (used by conftest.py)."""

from __future__ import annotations

import base64
import dataclasses
import filecmp
import io
import json
import os
import re
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
EXTENSION_NAME = "sd-webui-dnp"
CHECKPOINT = "tiny-sd15.safetensors"
SKIP_REASON = (
    "SD_WEBUI_DIR is not set: the real-WebUI suite needs a prepared WebUI (see tests/webui/README.md)"
)

# $SD_WEBUI_DIR/config.json written before every start (webui-offline notes, section 4)
BASE_CONFIG = {
    "sd_model_checkpoint": CHECKPOINT,
    "live_previews_enable": False,
    "samples_save": False,
    "grid_save": False,
}
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "PYTHONUNBUFFERED": "1",
}
LAUNCH_FLAGS = [
    "--skip-prepare-environment",
    "--skip-install",
    "--skip-torch-cuda-test",
    "--skip-version-check",
    "--use-cpu",
    "all",
    "--no-half",
    "--no-download-sd-model",
    "--api",
    "--server-name",
    "127.0.0.1",
]
# Forge (webui-offline notes for Forge, section 3): its own CPU switch, and a python-version check to skip
FORGE_LAUNCH_FLAGS = [
    "--skip-prepare-environment",
    "--skip-install",
    "--skip-torch-cuda-test",
    "--skip-version-check",
    "--skip-python-version-check",
    "--always-cpu",
    "--no-download-sd-model",
    "--api",
    "--server-name",
    "127.0.0.1",
]
LOG_TAIL_LINES = 60


@dataclass(frozen=True)
class Flavor:
    """One kind of WebUI the suite drives: where it is, how it starts, which checkpoint it gets."""

    name: str
    dir_var: str  # the environment variable naming the prepared WebUI folder
    python_var: str  # ... and its python (default: <folder>/venv/bin/python)
    launch_flags: tuple[str, ...]
    checkpoint_builder: str  # fixtures/<script>, run as: OUTDIR --hf-home DIR --webui-dir DIR
    checkpoint_files: tuple[str, ...]  # what it writes into OUTDIR, copied into models/Stable-diffusion
    extra_fixtures: tuple[str, ...]  # the EXTRA_FIXTURES this WebUI can build
    config: tuple[tuple[str, object], ...] = ()  # what it adds to BASE_CONFIG in config.json
    hub_cache: str | None = (
        None  # the Hugging Face hub cache its servers use, in its folder (None: $HF_HOME/hub)
    )
    launcher: str = "launch.py"  # what a server runs, from the WebUI folder, with launch.py's flags
    # (variable, folder in the checkpoint builder's OUTDIR): every server gets variable=that folder
    checkpoint_env: tuple[tuple[str, str], ...] = ()


A1111 = Flavor(
    name="AUTOMATIC1111",
    dir_var="SD_WEBUI_DIR",
    python_var="SD_WEBUI_PYTHON",
    launch_flags=tuple(LAUNCH_FLAGS),
    checkpoint_builder="make_tiny_sd.py",
    checkpoint_files=(CHECKPOINT, Path(CHECKPOINT).with_suffix(".yaml").name),
    extra_fixtures=("tiny_captioner", "negative_fixtures", "tiny_sdxl", "test_models"),
)
# Forge reads no yaml, and has neither ldm nor sgm, with which the extra tiny checkpoints are built (the negative
# fixtures, an embedding and a style, it can take)
FORGE = Flavor(
    name="Forge",
    dir_var="SD_FORGE_DIR",
    python_var="SD_FORGE_PYTHON",
    launch_flags=tuple(FORGE_LAUNCH_FLAGS),
    checkpoint_builder="make_forge_sd15.py",
    checkpoint_files=(CHECKPOINT,),
    extra_fixtures=("tiny_captioner", "negative_fixtures"),
    # Forge's default UI preset "sd" sets txt2img's width, height, CFG, sampler and scheduler on every page load from
    # options of its own (modules_forge/main_entry.py on_preset_change: 512x640), over ui-config.json; "all" takes
    # them from ui-config.json as A1111 does, so a browser test's saved defaults are what the page shows.
    config=(("forge_preset", "all"),),
    # modules_forge/initialization.py points HF_HUB_CACHE at models/diffusers unless it is set (HF_HOME alone is not)
    hub_cache="models/diffusers",
    # launch.py, with Forge's loader pointed at the builder's small text-encoder and VAE configs (the script says why)
    launcher=str(HERE / "fixtures" / "forge_launch.py"),
    checkpoint_env=(("DNP_FORGE_CONFIGS", "forge-configs"),),
)


# ---------------------------------------------------------------------------------------------------------
# >>> HOOK: extra fixture builders <<<
# Each entry is built once per session, before the first WebUI starts, by running
#     <WebUI venv python> -m <module> <args...> <OUTDIR>
# with cwd=$SD_WEBUI_DIR, PYTHONPATH=<this repository>, HF_HOME=<the session's tiny HF cache> (a builder may add
# files there too) and the offline variables. OUTDIR is webui_assets.extra[name]; when env_var is set, every WebUI
# started afterwards gets env_var=OUTDIR. A builder whose module file does not exist yet is skipped
# (extra[name] is None); one that fails is recorded, and webui_assets.require(name) fails the test that needs it,
# so a broken builder never blocks tests that do not use it.
@dataclass(frozen=True)
class ExtraFixture:
    name: str
    module: str
    env_var: str | None = None
    args: tuple[str, ...] = ()

    def module_file_exists(self) -> bool:
        base = REPO_ROOT.joinpath(*self.module.split("."))
        return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


EXTRA_FIXTURES: list[ExtraFixture] = [
    # the extension's random-weight test captioner (lib_dnp/testing/tiny_captioner.py)
    ExtraFixture(
        "tiny_captioner",
        "lib_dnp.testing.tiny_captioner",
        env_var="SD_WEBUI_DNP_TEST_CAPTIONER",
        args=("--kind", "blip-real-lengths"),  # captions of 9-41 CLIP tokens, as BLIP-large's
    ),
    # a textual-inversion embedding and a style for realistic negatives (fixtures/negatives.py)
    ExtraFixture("negative_fixtures", "tests.webui.fixtures.make_negative_fixtures"),
    # tiny SDXL-architecture checkpoint (test_sdxl.py; installed by fixtures/testext.py)
    ExtraFixture("tiny_sdxl", "tests.webui.fixtures.make_tiny_sdxl"),
    # a second tiny SD1.x checkpoint and a tiny LoRA (test_faults.py, test_lora.py; installed the same way)
    ExtraFixture("test_models", "tests.webui.fixtures.make_test_models"),
]
# ---------------------------------------------------------------------------------------------------------


# ----------------------------------------------------------------------------------------------- helpers


def decode_image(b64: str):
    """A base64 image from the API (optionally a data: URL) -> numpy array (H, W, C) uint8."""
    import numpy as np
    from PIL import Image

    if b64.startswith("data:"):
        b64 = b64.split(",", 1)[1]
    with Image.open(io.BytesIO(base64.b64decode(b64))) as im:
        return np.array(im.convert("RGB"))


def png_bytes(b64: str) -> bytes:
    if b64.startswith("data:"):
        b64 = b64.split(",", 1)[1]
    return base64.b64decode(b64)


def info_of(response: dict) -> dict:
    """The parsed ``info`` of a txt2img/img2img response (``Processed.js()``)."""
    info = response["info"]
    return json.loads(info) if isinstance(info, str) else info


def infotexts_of(response: dict) -> list[str]:
    """One infotext per returned image. To have the WebUI parse one with its own parser, send it back as the
    ``infotext`` field of a txt2img request (``Api.apply_infotext``), or as a PNG to /sdapi/v1/png-info."""
    return info_of(response)["infotexts"]


# A txt2img request that takes well under a second on the tiny checkpoint: the tests vary it.
BASE = {
    "prompt": "a photo of a cat",
    "negative_prompt": "blurry",
    "steps": 4,
    "width": 64,
    "height": 64,
    "seed": 7,
    "sampler_name": "Euler a",
    "cfg_scale": 7,
}

# Sent with every paste-back request (an ``infotext`` field): Forge's Api.apply_infotext fails any infotext with
# HTTP 500 ("isinstance() argument 2 cannot be a parameterized generic", modules/api/api.py get_field_value on the
# list[str] `styles` field) unless the request sets `styles` itself; A1111 takes it as "no styles", as pasted.
PASTE_BACK = {"styles": []}


def field(infotext: str, key: str) -> str | None:
    """One `Key: value` of an infotext's last line (values quoted by the WebUI when they hold , or :)."""
    match = re.search(
        rf"(?:^|, ){re.escape(key)}: (\"(?:[^\"\\\\]|\\\\.)*\"|[^,]*)", infotext.splitlines()[-1]
    )
    if not match:
        return None
    value = match.group(1)
    return json.loads(value) if value.startswith('"') else value


def negative_of(infotext: str) -> str:
    """The negative prompt an infotext reports ("" when it has none)."""
    line = next((x for x in infotext.splitlines() if x.startswith("Negative prompt: ")), "Negative prompt: ")
    return line[len("Negative prompt: ") :]


def tail(text: str, n: int = LOG_TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-n:])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "COMMANDLINE_ARGS", "PYTEST_CURRENT_TEST")
    }
    env.update(OFFLINE_ENV)
    env.update(extra)
    return env


# ------------------------------------------------------------------------------------------------ assets


@dataclass
class WebUIAssets:
    flavor: Flavor
    webui_dir: Path
    python: Path
    workdir: Path  # this session's scratch folder (fixtures, logs)
    hf_home: Path
    checkpoint: Path  # the copy in models/Stable-diffusion
    extra: dict[str, Path | None] = dataclasses.field(default_factory=dict)
    extra_errors: dict[str, str] = dataclasses.field(default_factory=dict)
    extra_env: dict[str, str] = dataclasses.field(default_factory=dict)

    def hub_cache(self) -> Path:
        """The Hugging Face hub cache the servers read (and download into)."""
        if self.flavor.hub_cache:
            return self.webui_dir / self.flavor.hub_cache
        return self.hf_home / "hub"

    def require(self, name: str) -> Path:
        """The output folder of an EXTRA_FIXTURES builder; fails the test if it was not built."""
        if name in self.extra_errors:
            pytest.fail(f"fixture builder {name!r} failed:\n{self.extra_errors[name]}", pytrace=False)
        path = self.extra.get(name)
        if path is None:
            pytest.fail(
                f"fixture builder {name!r} was not built (its module does not exist yet?)", pytrace=False
            )
        return path

    def run_python(
        self,
        args: list[str],
        *,
        env: dict[str, str] | None = None,
        timeout: float = 300,
        log: Path | None = None,
    ) -> subprocess.CompletedProcess:
        """Run the WebUI venv's python (cwd = the WebUI folder, offline env, HF_HOME = the tiny cache)."""
        full_env = clean_env(
            {"HF_HOME": str(self.hf_home), "SD_WEBUI_DIR": str(self.webui_dir), **(env or {})}
        )
        proc = subprocess.run(
            [str(self.python), *args],
            cwd=self.webui_dir,
            env=full_env,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if log is not None:
            log.write_text(proc.stdout)
        return proc


def _install_checkpoint(built_dir: Path, models_dir: Path, names: tuple[str, ...]) -> Path:
    models_dir.mkdir(parents=True, exist_ok=True)
    dest = None
    for name in names:
        src, dst = built_dir / name, models_dir / name
        if dst.is_symlink():
            dst.unlink()
        if not (dst.is_file() and filecmp.cmp(src, dst, shallow=False)):
            tmp = dst.with_name(dst.name + ".partial")
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)
        if name == CHECKPOINT:
            dest = dst
    return dest


def _link_extension(extensions_dir: Path) -> None:
    extensions_dir.mkdir(parents=True, exist_ok=True)
    link = extensions_dir / EXTENSION_NAME
    if link.is_symlink():
        if link.resolve() == REPO_ROOT:
            return
        link.unlink()  # a stale link (another checkout): replace it
    elif link.exists():
        raise RuntimeError(
            f"{link} exists and is not a symlink; move it away (it is never deleted by the tests)"
        )
    link.symlink_to(REPO_ROOT, target_is_directory=True)
