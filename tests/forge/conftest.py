"""The real-WebUI suite against Stable Diffusion WebUI Forge: the fixtures of tests/webui, on a Forge.

Opt-in like tests/webui: without SD_FORGE_DIR every test here is skipped with one reason line; with it none may skip.
``webui_flavor`` is the only fixture defined here: it makes the shared ``webui_assets`` build the Forge checkpoint
(fixtures/make_forge_sd15.py) and start Forge with its own flags (harness.FORGE). Every other fixture is the one of
tests/webui/conftest.py, so the test modules here import the flavour-neutral A1111 tests rather than copy them.
"""

from __future__ import annotations

import os

import pytest
from webui.conftest import (  # noqa: F401  (fixtures, registered for this folder by being imported here)
    captioner,
    testext_webui,
    webui,
    webui_assets,
    webui_plain,
    webui_servers,
    webui_ui,
)
from webui.harness import FORGE, Flavor

SKIP_REASON = "SD_FORGE_DIR is not set: the Forge suite needs a prepared Forge (see tests/forge/README.md)"


def pytest_runtest_setup(item):
    # raised here (not as a mark) so that all skipped tests share one location, i.e. one summary line
    if not os.environ.get(FORGE.dir_var):
        pytest.skip(SKIP_REASON)


@pytest.fixture(scope="session")
def webui_flavor() -> Flavor:
    return FORGE
