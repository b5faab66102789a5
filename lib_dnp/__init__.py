"""sd-webui-dnp core: diffusion-negative prompting, independent of any front end.

Importing this package is cheap (no torch, no transformers): the WebUI imports it at start-up.
"""

from __future__ import annotations

__version__ = "0.1.0"
# The WebUI script's title: the `alwayson_scripts` key of API requests, and the infotext key of the settings.
SCRIPT_TITLE = "DNP"
