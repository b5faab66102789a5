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

import base64
import filecmp
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
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
LOG_TAIL_LINES = 60


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
        args=("--kind", "blip"),
    ),
]
# ---------------------------------------------------------------------------------------------------------


def pytest_runtest_setup(item):
    # raised here (not as a mark) so that all skipped tests share one location, i.e. one summary line
    if not os.environ.get("SD_WEBUI_DIR"):
        pytest.skip(SKIP_REASON)


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
    webui_dir: Path
    python: Path
    workdir: Path  # this session's scratch folder (fixtures, logs)
    hf_home: Path
    checkpoint: Path  # the copy in models/Stable-diffusion
    extra: dict[str, Path | None] = field(default_factory=dict)
    extra_errors: dict[str, str] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)

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


def _install_checkpoint(built_dir: Path, models_dir: Path) -> Path:
    models_dir.mkdir(parents=True, exist_ok=True)
    dest = None
    for name in (CHECKPOINT, Path(CHECKPOINT).with_suffix(".yaml").name):
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


@pytest.fixture(scope="session")
def webui_assets(tmp_path_factory) -> WebUIAssets:
    webui_dir = Path(os.environ["SD_WEBUI_DIR"]).resolve()
    python = Path(os.environ.get("SD_WEBUI_PYTHON") or webui_dir / "venv" / "bin" / "python")
    if not (webui_dir / "launch.py").is_file():
        pytest.fail(f"SD_WEBUI_DIR={webui_dir} holds no launch.py (see tests/webui/README.md)", pytrace=False)
    if not python.exists():
        pytest.fail(f"no WebUI python at {python} (set SD_WEBUI_PYTHON)", pytrace=False)

    workdir = tmp_path_factory.mktemp("sd-webui")
    (workdir / "logs").mkdir()
    built = workdir / "fixtures"
    hf_home = built / "hf_home"
    assets = WebUIAssets(
        webui_dir=webui_dir,
        python=python,
        workdir=workdir,
        hf_home=hf_home,
        checkpoint=webui_dir / "models" / "Stable-diffusion" / CHECKPOINT,
    )

    proc = assets.run_python(
        [
            str(HERE / "fixtures" / "make_tiny_sd.py"),
            str(built),
            "--hf-home",
            str(hf_home),
            "--webui-dir",
            str(webui_dir),
        ],
        log=workdir / "logs" / "make_tiny_sd.log",
    )
    if proc.returncode != 0:
        pytest.fail(f"make_tiny_sd.py failed ({proc.returncode}):\n{tail(proc.stdout)}", pytrace=False)
    assets.checkpoint = _install_checkpoint(built, webui_dir / "models" / "Stable-diffusion")
    _link_extension(webui_dir / "extensions")

    for fx in EXTRA_FIXTURES:
        if not fx.module_file_exists():
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


# ------------------------------------------------------------------------------------------------ server


class WebUIStartError(RuntimeError):
    pass


class WebUI:
    """A running WebUI process and a small HTTP client for it."""

    def __init__(
        self, name: str, assets: WebUIAssets, *, ui: bool, args: tuple[str, ...], env: dict[str, str]
    ):
        self.name = name
        self.assets = assets
        self.ui = ui
        self.args = tuple(args)
        self.env = dict(env)
        self.log_path = assets.workdir / "logs" / f"webui-{name}.log"
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self.start_seconds: float | None = None
        self._start_mark = 0
        import requests

        self.http = requests.Session()

    # -- lifecycle
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [str(self.assets.python), "launch.py", *LAUNCH_FLAGS, "--port", str(self.port)]
        if not self.ui:
            cmd.append("--nowebui")
        return cmd + list(self.args)

    def start(self, timeout: float | None = None) -> None:
        timeout = timeout or float(os.environ.get("SD_WEBUI_START_TIMEOUT", "120"))
        for attempt in range(3):
            self.port = free_port()
            write_config(self.assets.webui_dir)
            env = clean_env({"HF_HOME": str(self.assets.hf_home), **self.assets.extra_env, **self.env})
            t0 = time.monotonic()
            self._start_mark = self.log_mark()
            with open(self.log_path, "a") as log:
                log.write(f"### start {attempt + 1}: {' '.join(self.command())}\n")
                log.flush()
                self.proc = subprocess.Popen(
                    self.command(),
                    cwd=self.assets.webui_dir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            try:
                self._wait_ready(t0 + timeout)
                self.start_seconds = time.monotonic() - t0
                return
            except WebUIStartError:
                this_start = self.log_since(self._start_mark)
                self.stop()
                if "address already in use" in this_start.lower() and attempt < 2:
                    continue
                raise

    def _wait_ready(self, deadline: float) -> None:
        import requests

        def fail(why: str):
            raise WebUIStartError(f"WebUI {self.name!r} {why}; log {self.log_path}:\n{tail(self.log_text())}")

        while True:
            if self.proc.poll() is not None:
                fail(f"exited with {self.proc.returncode} before answering")
            # UI mode: no request before the WebUI says "Startup time:". In webui.py:webui() the gradio server is
            # already serving while the API is added; a request in that window builds starlette's middleware
            # stack, and Api.__init__ then dies with "Cannot add middleware after an application has started".
            # (--nowebui starts uvicorn only after everything is set up.)
            if not self.ui or "Startup time:" in self.log_since(self._start_mark):
                try:
                    if self.http.get(self.url + "/sdapi/v1/options", timeout=5).status_code == 200:
                        return
                except requests.RequestException:
                    pass
            if time.monotonic() > deadline:
                fail("did not answer GET /sdapi/v1/options in time")
            time.sleep(0.25)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue

    # -- HTTP
    def get(self, path: str, **kw):
        kw.setdefault("timeout", 300)
        return self.http.get(self.url + path, **kw)

    def post(self, path: str, json=None, **kw):
        kw.setdefault("timeout", 300)
        return self.http.post(self.url + path, json=json, **kw)

    def txt2img(self, **payload) -> dict:
        """POST /sdapi/v1/txt2img; returns the JSON, fails the test with the answer and the log tail otherwise."""
        r = self.post("/sdapi/v1/txt2img", json=payload)
        if r.status_code != 200:
            pytest.fail(
                f"txt2img -> HTTP {r.status_code}: {r.text[:3000]}\n--- WebUI log tail ---\n"
                f"{tail(self.log_text())}",
                pytrace=False,
            )
        return r.json()

    # -- log
    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_mark(self) -> int:
        """Current log size; pass it to log_since() to read what a request printed."""
        return len(self.log_text())

    def log_since(self, mark: int) -> str:
        return self.log_text()[mark:]

    # helpers, also reachable from the fixture object
    decode_image = staticmethod(decode_image)
    png_bytes = staticmethod(png_bytes)
    info = staticmethod(info_of)
    infotexts = staticmethod(infotexts_of)

    def __repr__(self) -> str:
        return f"<WebUI {self.name} {self.url} ui={self.ui} args={self.args}>"


def write_config(webui_dir: Path, extra: dict | None = None) -> None:
    path = webui_dir / "config.json"
    tmp = path.with_name("config.json.partial")
    tmp.write_text(json.dumps({**BASE_CONFIG, **(extra or {})}, indent=2))
    os.replace(tmp, path)


class WebUIServers:
    """Starts WebUI processes on demand, one per name, and stops them all at the end of the session."""

    def __init__(self, assets: WebUIAssets):
        self.assets = assets
        self._servers: dict[str, WebUI] = {}

    def get(
        self, name: str, *, ui: bool = False, args: tuple[str, ...] = (), env: dict[str, str] | None = None
    ) -> WebUI:
        server = self._servers.get(name)
        if server is not None:
            if (server.ui, server.args) != (ui, tuple(args)):
                raise ValueError(f"WebUI {name!r} already runs with ui={server.ui} args={server.args}")
            if server.proc is None or server.proc.poll() is not None:
                pytest.fail(
                    f"WebUI {name!r} is no longer running; log {server.log_path}:\n{tail(server.log_text())}",
                    pytrace=False,
                )
            return server
        server = WebUI(name, self.assets, ui=ui, args=args, env=env or {})
        self._servers[name] = server
        try:
            server.start()
        except WebUIStartError as e:
            pytest.fail(str(e), pytrace=False)
        return server

    def stop_all(self) -> None:
        for server in self._servers.values():
            server.stop()


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
