"""The WebUI server process of the harness: start on a free port, wait until ready, HTTP helpers, stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .harness import (
    BASE_CONFIG,
    WebUIAssets,
    clean_env,
    decode_image,
    free_port,
    info_of,
    infotexts_of,
    png_bytes,
    tail,
)

# ------------------------------------------------------------------------------------------------ server


class WebUIStartError(RuntimeError):
    pass


class WebUI:
    """A running WebUI process and a small HTTP client for it."""

    def __init__(
        self,
        name: str,
        assets: WebUIAssets,
        *,
        ui: bool,
        args: tuple[str, ...],
        env: dict[str, str],
        api: bool = True,
    ):
        self.name = name
        self.assets = assets
        self.ui = ui
        # api=False drops the harness's --api (UI mode then has no /sdapi/v1; --nowebui always has it)
        self.api = api
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
        flags = [flag for flag in self.assets.flavor.launch_flags if self.api or flag != "--api"]
        cmd = [str(self.assets.python), self.assets.flavor.launcher, *flags, "--port", str(self.port)]
        if not self.ui:
            cmd.append("--nowebui")
        return cmd + list(self.args)

    def start(self, timeout: float | None = None) -> None:
        timeout = timeout or float(os.environ.get("SD_WEBUI_START_TIMEOUT", "120"))
        for attempt in range(3):
            self.port = free_port()
            write_config(self.assets.webui_dir, dict(self.assets.flavor.config))
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
            # Without the API, the page answers; behind --api-auth, the API answers 401.
            probe = "/sdapi/v1/options" if self.api or not self.ui else "/"
            if not self.ui or "Startup time:" in self.log_since(self._start_mark):
                try:
                    if self.http.get(self.url + probe, timeout=5).status_code in (200, 401):
                        return
                except requests.RequestException:
                    pass
            if time.monotonic() > deadline:
                fail(f"did not answer GET {probe} in time")
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
        self,
        name: str,
        *,
        ui: bool = False,
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        api: bool = True,
    ) -> WebUI:
        server = self._servers.get(name)
        if server is not None:
            if (server.ui, server.args, server.api) != (ui, tuple(args), api):
                raise ValueError(
                    f"WebUI {name!r} already runs with ui={server.ui} args={server.args} api={server.api}"
                )
            if server.proc is None or server.proc.poll() is not None:
                pytest.fail(
                    f"WebUI {name!r} is no longer running; log {server.log_path}:\n{tail(server.log_text())}",
                    pytrace=False,
                )
            return server
        server = WebUI(name, self.assets, ui=ui, args=args, env=env or {}, api=api)
        self._servers[name] = server
        try:
            server.start()
        except WebUIStartError as e:
            pytest.fail(str(e), pytrace=False)
        return server

    def stop(self, name: str) -> None:
        """Stop one server and forget it (a test module that needs several flag sets keeps one running)."""
        server = self._servers.pop(name, None)
        if server is not None:
            server.stop()

    def stop_all(self) -> None:
        for server in self._servers.values():
            server.stop()
