"""Command-line flags of sd-webui-dnp (the WebUI calls preload() before parsing its arguments).

Both also are options in Settings › DNP (lib_dnp/webui/settings.py); a flag wins where given, so its default is
None, "not given".
"""

from __future__ import annotations

import argparse


def preload(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dnp-captioner-device",
        type=str,
        default=None,
        help="sd-webui-dnp: device for the DNP captioner, e.g. cpu or cuda:1; wins over Settings › DNP "
        "(default: the setting, else the WebUI's interrogate device)",
    )
    parser.add_argument(
        "--dnp-cache-size",
        type=int,
        default=None,  # not given: Settings › DNP decides
        help="sd-webui-dnp: how many DNS images (and their captions) to keep for re-use (0 disables the cache); "
        "wins over Settings › DNP (default: the setting, 32)",
    )
