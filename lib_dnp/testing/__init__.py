"""Helpers for tests of sd-webui-dnp and of the front ends built on it (tiny random-weight models).

Importing this package is cheap; the builders import torch and transformers when called.
"""

from __future__ import annotations

from lib_dnp.testing.tiny_captioner import BUILDERS, build_tiny_blip, build_tiny_blip2, build_tiny_git

__all__ = ["BUILDERS", "build_tiny_blip", "build_tiny_blip2", "build_tiny_git"]
