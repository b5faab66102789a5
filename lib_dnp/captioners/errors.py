"""Errors of the captioner layer.

Callers catch `CaptionerError` to keep the image and report the caption as failed; `CaptionerNotFound` tells the
user that a download (or another captioner) is the remedy, not a bug report.
"""

from __future__ import annotations


class CaptionerError(RuntimeError):
    """A captioner could not be loaded or could not caption; the cause is chained (`__cause__`)."""


class CaptionerNotFound(CaptionerError):
    """The captioner's model is neither a local folder nor in the Hugging Face cache, and cannot be downloaded."""
