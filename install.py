"""Run by the WebUI's launcher (not with --skip-install): installs only what is missing.

The WebUI already ships everything sd-webui-dnp needs (torch, transformers, pydantic, safetensors, Pillow). This
file never upgrades, downgrades or replaces an installed package: the WebUI pins its versions, and an extension that
re-installs them breaks other extensions.
"""

from __future__ import annotations

import os
import sys

# import name → what to install if it is absent (lower bounds only; an installed version is always kept)
REQUIRED = {
    "transformers": "transformers>=4.30.2",
    "safetensors": "safetensors",
    "pydantic": "pydantic>=1.10",
}


def missing(requirements: dict[str, str]) -> list[str]:
    import importlib.util

    return [spec for module, spec in requirements.items() if importlib.util.find_spec(module) is None]


def main() -> None:
    # The launcher itself skips every install.py under --skip-install; honour it when run some other way too.
    if "--skip-install" in sys.argv or "--skip-install" in os.environ.get("COMMANDLINE_ARGS", ""):
        return
    import launch  # the WebUI's launcher module, present when the WebUI runs this file

    for spec in missing(REQUIRED):
        launch.run_pip(f'install "{spec}"', f"sd-webui-dnp requirement: {spec}")


if __name__ == "__main__":
    main()
