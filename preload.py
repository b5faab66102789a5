"""Command-line flags of sd-webui-dnp (the WebUI calls preload() before parsing its arguments)."""

from __future__ import annotations

import argparse


def preload(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dnp-captioner-device",
        type=str,
        default=None,
        help="sd-webui-dnp: device for the DNP captioner, e.g. cpu or cuda:1 (default: the WebUI's device)",
    )
    parser.add_argument(
        "--dnp-cache-size",
        type=int,
        default=None,  # lib_dnp.cache.DEFAULT_CACHE_SIZE: preload.py cannot import lib_dnp
        help="sd-webui-dnp: how many DNS images (and their captions) to keep for re-use (0 disables the cache; "
        "default: lib_dnp.cache.DEFAULT_CACHE_SIZE)",
    )
