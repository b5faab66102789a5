"""What the extension adds to WebUI start-up: the import of its WebUI-facing modules, in a fresh interpreter.

`lib_dnp_imports()` times importing `lib_dnp.webui.*` after the packages the WebUI has already imported by then
(torch, pydantic, PIL, numpy), and lists any other package that import pulls in. `webui_script_load(webui_dir,
python)` loads scripts/dnp.py the way the WebUI does (its `script_loading.load_module`), after the WebUI's own
start-up imports, with the WebUI's python; that includes the WebUI's own bookkeeping of our callbacks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WEBUI_MODULES = ["api", "dns_pass", "generation", "preview", "runtime", "ui"]

_LIB_CODE = """
import json, sys, time
import numpy, PIL.Image, pydantic, torch
before = set(sys.modules)
start = time.perf_counter()
for name in {modules!r}:
    __import__("lib_dnp.webui." + name)
seconds = time.perf_counter() - start
new = sorted({{m.split(".")[0] for m in set(sys.modules) - before}} - {{"lib_dnp"}})
print(json.dumps({{"seconds": seconds, "new_packages": new}}))
"""

_WEBUI_CODE = """
import inspect, json, sys, time
sys.argv = [sys.argv[0], "--skip-torch-cuda-test", "--no-download-sd-model"]
sys.path[:0] = [{webui!r}, {root!r}]
from modules import initialize
initialize.imports()
initialize.check_versions()
from modules import processing, script_callbacks, scripts, shared
from modules.script_loading import load_module
inspect.stack()  # other extensions' callbacks have warmed inspect's module cache by the time ours load
before = set(sys.modules)
start = time.perf_counter()
load_module({script!r})
seconds = time.perf_counter() - start
new = sorted({{m.split(".")[0] for m in set(sys.modules) - before}} - {{"lib_dnp"}})
print(json.dumps({{"seconds": seconds, "new_packages": new}}))
"""


def _run(python: str, code: str, cwd: str) -> dict:
    done = subprocess.run([python, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"start-up measurement failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def lib_dnp_imports(python: str = sys.executable) -> dict:
    return _run(python, _LIB_CODE.format(modules=WEBUI_MODULES), ROOT)


def webui_script_load(webui_dir: str, python: str) -> dict:
    script = os.path.join(ROOT, "scripts", "dnp.py")
    return _run(python, _WEBUI_CODE.format(webui=webui_dir, root=ROOT, script=script), webui_dir)
