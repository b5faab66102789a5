"""Opt-in real-WebUI tests beside real peer extensions (see tests/webui/README.md, "Beside other extensions").

Collected only when SD_WEBUI_PEERS_DIR names a folder holding the exported trees of sd-dynamic-prompts,
adetailer and sd-webui-controlnet (no package registry ships them as WebUI extensions, so CI cannot run these;
tests/webui/test_order.py proves the load-order independence there with a stand-in). SD_WEBUI_DIR and the other
variables of tests/webui apply; the peers' Python packages must be in the WebUI's venv.

`peers_webui` starts the WebUI with the three peers linked into its extensions/, once with this extension under
its own folder name (its scripts run after the peers', by folder order) and once as `0-sd-webui-dnp` (before them),
on a tiny checkpoint with SD1.5's UNet block layout (`sd15_layout_checkpoint`): ControlNet's reference-only hooks
UNet blocks by SD1.5's indices, which the suite's tiny-sd15 lacks.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from webui.conftest import captioner, webui_assets, webui_flavor, webui_servers  # noqa: F401  (the shared fixtures)
from webui.harness import BASE_CONFIG, EXTENSION_NAME, REPO_ROOT, _install_checkpoint, tail

PEERS = ("sd-dynamic-prompts", "adetailer", "sd-webui-controlnet")
EARLY_NAME = "0-sd-webui-dnp"  # sorts before every peer's folder
LAYOUT_BUILDER = REPO_ROOT / "tests" / "webui" / "fixtures" / "make_tiny_sd15_layout.py"
LAYOUT_FILES = ("tiny-sd15-layout.safetensors", "tiny-sd15-layout.yaml")
# sd-dynamic-prompts' settings at their defaults. In v1.10.1 it registers them (on_ui_settings, from its Script's
# __init__) after the WebUI has built its settings, so on a config.json without them its process() fails on
# `opts.dp_ignore_whitespace` and leaves the prompts unexpanded; opts reads values present in config.json.
DYNAMIC_PROMPTS_OPTIONS = {
    "dp_ignore_whitespace": False,
    "dp_write_raw_template": False,
    "dp_write_prompts_to_file": False,
    "dp_parser_variant_start": "{",
    "dp_parser_variant_end": "}",
    "dp_parser_wildcard_wrap": "__",
    "dp_limit_jinja_prompts": False,
    "dp_auto_purge_cache": False,
    "dp_wildcard_manager_no_dedupe": False,
    "dp_wildcard_manager_no_sort": False,
    "dp_wildcard_manager_shuffle": False,
    "dp_magicprompt_batch_size": 1,
}

if not os.environ.get("SD_WEBUI_PEERS_DIR"):
    collect_ignore_glob = ["test_*.py"]  # opt-in: nothing is collected, nothing skipped


def _relink(link: Path, target: Path | None) -> None:
    if link.is_symlink():
        link.unlink()
    elif link.exists():
        raise RuntimeError(f"{link} exists and is not a symlink; move it away")
    if target is not None:
        link.symlink_to(target, target_is_directory=True)


@pytest.fixture(scope="session")
def sd15_layout_checkpoint(webui_assets) -> str:  # noqa: F811
    """Build tiny-sd15-layout (fixtures/make_tiny_sd15_layout.py) and copy it into the WebUI's models; its name."""
    out = webui_assets.workdir / "extra" / "sd15_layout"
    out.mkdir(parents=True, exist_ok=True)
    proc = webui_assets.run_python(
        [str(LAYOUT_BUILDER), str(out)],  # a script: see its doc for why not -m
        log=webui_assets.workdir / "logs" / "build-sd15_layout.log",
    )
    if proc.returncode != 0:
        pytest.fail(f"{LAYOUT_BUILDER.name} failed ({proc.returncode}):\n{tail(proc.stdout)}", pytrace=False)
    _install_checkpoint(out, webui_assets.webui_dir / "models" / "Stable-diffusion", LAYOUT_FILES)
    return LAYOUT_FILES[0]


@pytest.fixture(scope="module", params=["dnp_last", "dnp_first"])
def peers_webui(request, webui_servers, webui_assets, sd15_layout_checkpoint):  # noqa: F811
    peers_dir = Path(os.environ["SD_WEBUI_PEERS_DIR"]).resolve()
    extensions = webui_assets.webui_dir / "extensions"
    for name in PEERS:
        if not (peers_dir / name / "scripts").is_dir():
            pytest.fail(f"SD_WEBUI_PEERS_DIR={peers_dir} has no {name}/scripts", pytrace=False)
        _relink(extensions / name, peers_dir / name)
    early = request.param == "dnp_first"
    _relink(extensions / EXTENSION_NAME, None if early else REPO_ROOT)
    _relink(extensions / EARLY_NAME, REPO_ROOT if early else None)
    saved_config = dict(BASE_CONFIG)
    BASE_CONFIG.update(DYNAMIC_PROMPTS_OPTIONS)  # the harness writes config.json from it at each start
    BASE_CONFIG["sd_model_checkpoint"] = sd15_layout_checkpoint
    server = webui_servers.get(f"peers-{request.param}")
    server.order = request.param
    try:
        yield server
    finally:
        server.stop()  # one peers WebUI at a time, and the folder names as the other tests expect them
        BASE_CONFIG.clear()
        BASE_CONFIG.update(saved_config)
        _relink(extensions / EARLY_NAME, None)
        _relink(extensions / EXTENSION_NAME, REPO_ROOT)
        for name in PEERS:
            _relink(extensions / name, None)
