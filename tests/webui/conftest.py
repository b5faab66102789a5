"""Fixtures that drive a real AUTOMATIC1111 WebUI over HTTP (see README.md in this folder).

Opt-in: without SD_WEBUI_DIR every test in this folder is skipped with one reason line. With it:

* ``webui_assets`` (session) builds the tiny fixtures once (tiny HF cache + tiny SD1.x checkpoint, plus the
  optional builders of ``EXTRA_FIXTURES``), copies the checkpoint into the WebUI's models folder and links this
  repository into its ``extensions/`` as ``sd-webui-dnp``.
* ``webui`` (session) -- the WebUI with the extension; ``webui_plain`` (session) -- the same WebUI started with
  ``--disable-extra-extensions``; ``webui_ui`` (session) -- with the extension, in UI mode (gradio + API).
  Each server starts lazily, on a free port of 127.0.0.1, the first time a test asks for it, and its process
  group is killed at the end of the session. ``SD_WEBUI_UI=1`` starts ``webui``/``webui_plain`` in UI mode too.
* ``webui_servers`` (session) -- the factory behind them, for a test module that needs other flags.

Environment: SD_WEBUI_DIR (required), SD_WEBUI_PYTHON (default $SD_WEBUI_DIR/venv/bin/python),
SD_WEBUI_START_TIMEOUT (seconds, default 120), SD_WEBUI_UI (1 = UI mode for the default fixtures).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .harness import (
    A1111,
    CHECKPOINT,
    EXTRA_FIXTURES,
    HERE,
    REPO_ROOT,
    SKIP_REASON,
    Flavor,
    WebUIAssets,
    _install_checkpoint,
    _link_extension,
    tail,
)
from .server import WebUI, WebUIServers


def pytest_sessionfinish(session, exitstatus):
    """With DNP_NO_SKIPS=1 (CI) a skipped real-WebUI test fails the run: every one must run on every submission."""
    if os.environ.get("DNP_NO_SKIPS") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.ensure_newline()
        reporter.write_line(
            f"DNP_NO_SKIPS: {len(skipped)} real-WebUI test(s) skipped; that fails the run", red=True
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# What SD_WEBUI_UI changes: the servers of `webui` and `webui_plain`; and the browser tests (`driver`), which need
# UI mode and which CI's API-only run leaves out.
UI_RERUN_FIXTURES = {"webui", "webui_plain", "driver"}


def pytest_collection_modifyitems(config, items):
    """SD_WEBUI_UI_RERUN=1 (CI's UI-mode run, after an API-only run of the whole suite): only the tests that
    SD_WEBUI_UI changes run. Every other test starts its servers with fixed flags (the test-only extension's,
    --medvram, each door's, UI mode for the accordion) and would repeat the first run's requests exactly.

    Of a parametrized test the rerun keeps the first case, the browser tests excepted: what UI mode changes for an
    API request is how the WebUI set the scripts up (the script's ui() built into gradio blocks, its args_from and
    args_to, the infotext and paste fields), the same for every case; the cases (the batch-shape grid's rows, each
    sampler, each bad value) vary what the API-only run has proved per case. A browser test's cases are user actions
    in the page, which only this run performs."""
    if os.environ.get("SD_WEBUI_UI_RERUN") != "1":
        return
    seen: set[tuple[str, str]] = set()

    def first_case(item) -> bool:
        if "driver" in item.fixturenames or not hasattr(item, "callspec"):
            return True
        key = (item.nodeid.split("::")[0], item.originalname)
        if key in seen:
            return False
        seen.add(key)
        return True

    keep = [item for item in items if UI_RERUN_FIXTURES & set(item.fixturenames) and first_case(item)]
    config.hook.pytest_deselected(items=[item for item in items if item not in keep])
    items[:] = keep


def pytest_runtest_setup(item):
    # raised here (not as a mark) so that all skipped tests share one location, i.e. one summary line
    if not os.environ.get("SD_WEBUI_DIR"):
        pytest.skip(SKIP_REASON)


@pytest.fixture(scope="session")
def webui_flavor() -> Flavor:
    """Which WebUI the suite drives (tests/forge/conftest.py overrides it)."""
    return A1111


@pytest.fixture(scope="session")
def webui_assets(tmp_path_factory, webui_flavor: Flavor) -> WebUIAssets:
    dir_var, python_var = webui_flavor.dir_var, webui_flavor.python_var
    webui_dir = Path(os.environ[dir_var]).resolve()
    python = Path(os.environ.get(python_var) or webui_dir / "venv" / "bin" / "python")
    if not (webui_dir / "launch.py").is_file():
        pytest.fail(f"{dir_var}={webui_dir} holds no launch.py (see tests/webui/README.md)", pytrace=False)
    if not python.exists():
        pytest.fail(f"no WebUI python at {python} (set {python_var})", pytrace=False)

    workdir = tmp_path_factory.mktemp("sd-webui")
    (workdir / "logs").mkdir()
    built = workdir / "fixtures"
    hf_home = built / "hf_home"
    assets = WebUIAssets(
        flavor=webui_flavor,
        webui_dir=webui_dir,
        python=python,
        workdir=workdir,
        hf_home=hf_home,
        checkpoint=webui_dir / "models" / "Stable-diffusion" / CHECKPOINT,
    )

    proc = assets.run_python(
        [
            str(HERE / "fixtures" / webui_flavor.checkpoint_builder),
            str(built),
            "--hf-home",
            str(hf_home),
            "--webui-dir",
            str(webui_dir),
        ],
        log=workdir / "logs" / "build-checkpoint.log",
    )
    if proc.returncode != 0:
        pytest.fail(
            f"{webui_flavor.checkpoint_builder} failed ({proc.returncode}):\n{tail(proc.stdout)}",
            pytrace=False,
        )
    models = webui_dir / "models" / "Stable-diffusion"
    assets.checkpoint = _install_checkpoint(built, models, webui_flavor.checkpoint_files)
    assets.extra_env.update({var: str(built / folder) for var, folder in webui_flavor.checkpoint_env})
    _link_extension(webui_dir / "extensions")

    for fx in EXTRA_FIXTURES:
        if fx.name not in webui_flavor.extra_fixtures or not fx.module_file_exists():
            assets.extra[fx.name] = None
            continue
        out = workdir / "extra" / fx.name
        out.mkdir(parents=True)
        try:
            proc = assets.run_python(
                ["-m", fx.module, *fx.args, str(out)],
                env={"PYTHONPATH": str(REPO_ROOT)},
                log=workdir / "logs" / f"build-{fx.name}.log",
            )
            ok, output = proc.returncode == 0, proc.stdout
        except subprocess.TimeoutExpired as e:
            ok, output = False, f"timed out after {e.timeout} s"
        if ok:
            assets.extra[fx.name] = out
            if fx.env_var:
                assets.extra_env[fx.env_var] = str(out)
        else:
            assets.extra[fx.name] = None
            assets.extra_errors[fx.name] = f"python -m {fx.module} {' '.join(fx.args)} {out}:\n{tail(output)}"
    return assets


def _ui_default() -> bool:
    return os.environ.get("SD_WEBUI_UI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def webui_servers(webui_assets):
    servers = WebUIServers(webui_assets)
    yield servers
    servers.stop_all()


@pytest.fixture(scope="session")
def webui(webui_servers) -> WebUI:
    """The WebUI with this extension (API only unless SD_WEBUI_UI=1)."""
    return webui_servers.get("dnp", ui=_ui_default())


@pytest.fixture(scope="session")
def webui_plain(webui_servers) -> WebUI:
    """The same WebUI without this extension (--disable-extra-extensions: built-in extensions only)."""
    return webui_servers.get("plain", ui=_ui_default(), args=("--disable-extra-extensions",))


@pytest.fixture(scope="session")
def webui_ui(webui_servers) -> WebUI:
    """The WebUI with this extension in UI mode (gradio page at .url + '/', API as well)."""
    return webui_servers.get("dnp-ui", ui=True)


@pytest.fixture(scope="session")
def captioner(webui_assets) -> str:
    """The folder of the tiny random-weight captioner, for a request's `captioner` field."""
    return str(webui_assets.require("tiny_captioner"))


@pytest.fixture(scope="session")
def testext_webui(webui_servers, webui_assets) -> WebUI:
    """The WebUI with this extension and the test-only one (fixtures/dnp_testext: faults, counters), and the extra
    tiny models (SDXL, a second SD1.x checkpoint, a LoRA) installed."""
    from .fixtures.testext import start_testext_webui

    return start_testext_webui(webui_servers, webui_assets)
