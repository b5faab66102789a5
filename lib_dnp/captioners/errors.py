"""Errors of the captioner layer, part of the errors of `lib_dnp.errors`.

Callers catch `CaptionerError` to keep the image and report the caption as failed; `CaptionerNotFound` tells the
user that a download (or another captioner) is the remedy, not a bug report: its message already names it.
"""

from __future__ import annotations

from lib_dnp.errors import DnpError


class CaptionerError(DnpError, RuntimeError):
    """A captioner could not be loaded or could not caption; the cause is chained (`__cause__`)."""


class CaptionerNotFound(CaptionerError):
    """The captioner's model is neither a local folder nor in the Hugging Face cache, and cannot be downloaded."""

    remedy = ""  # the message says how to get the model
