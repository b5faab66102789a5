"""The errors of sd-webui-dnp, from the core to the adapter.

Every failure DNP reports to a user is a `DnpError`: its text (`str(error)`) is the user message, its `remedy`
what the user can do about it, and its type what a front end decides on (an `Interrupted` stops the job, an
`OutOfMemory` names memory remedies, ...). The pipeline records one per failed image (`ImageResult.failure`);
nobody reads a message to find out what happened.

This module imports nothing of the WebUI, and torch only when asked whether an error is torch's out-of-memory.
"""

from __future__ import annotations

SEE_CONSOLE = "see the console for details"


class DnpError(Exception):
    """A failure of DNP for some images. The image is still made, with the user's own negative prompt, unless
    `stops_job` (then the WebUI stops the whole job, as it would without DNP)."""

    remedy = SEE_CONSOLE
    stops_job = False

    def __init__(self, message: str, remedy: str | None = None) -> None:
        super().__init__(message)
        if remedy is not None:
            self.remedy = remedy

    @property
    def message(self) -> str:
        return str(self)


class Stopped(DnpError):
    """The user pressed Interrupt or Skip while DNP worked; `stage` says where ("during the DNS pass")."""

    remedy = ""  # the user asked for it
    verb = "stopped"

    def __init__(self, stage: str = "") -> None:
        self.stage = stage
        super().__init__(f"{self.verb} {stage}".strip())


class Interrupted(Stopped):
    """Interrupt: the WebUI stops the whole job, no image is made."""

    verb = "interrupted"
    stops_job = True


class Skipped(Stopped):
    """Skip: DNP's work for this job ends, the images are made with the user's own negatives."""

    verb = "skipped"


class BadSettings(DnpError):
    """DNP options that cannot be used together (manual mode with the wrong number of captions, ...)."""

    remedy = "fix the DNP settings"


class NoCaptioner(DnpError):
    """Auto mode without a captioner to caption the DNS images."""

    remedy = "pick a captioner in the DNP settings"


class OutOfMemory(DnpError):
    """A model ran out of (GPU) memory."""

    remedy = "try a smaller captioner, fewer images per batch, or --medvram"


class DnsGuidanceFailed(DnpError):
    """The DNS pass could not apply eq. 19 (the conds could not be swapped, or the CFG callback never ran)."""


class ModelUnavailable(DnpError):
    """A model DNP needs besides the captioner (the re-ranking CLIP) could not be loaded."""


class WebuiRequestFailed(DnpError):
    """A front end outside the WebUI (`python -m lib_dnp evaluate --webui`) got no usable answer from it."""

    remedy = "check the URL, and that the WebUI runs with --api and the DNP extension"


class UnpaddableNegatives(DnpError):
    """The captions would give the negatives of one batch different chunk counts, and one of them cannot be
    padded with BREAK (an unclosed bracket turns BREAK into words): the job keeps the users' own negatives."""

    remedy = "close the brackets of your negative prompt, or generate one image per batch"


class UnexpectedError(DnpError):
    """Any other exception of a pass or a captioner, wrapped: the text names its type; `__cause__` is it."""


def is_out_of_memory(error: BaseException | None) -> bool:
    """torch's OutOfMemoryError (or our `OutOfMemory`), or an error caused by one: a captioner chains the error
    it wraps. Decided on the type, never on the message."""
    oom_types = _torch_oom_types()
    seen = 0
    while error is not None and seen < 8:
        if isinstance(error, (OutOfMemory, *oom_types)):
            return True
        error, seen = error.__cause__ or error.__context__, seen + 1
    return False


def _torch_oom_types() -> tuple[type[BaseException], ...]:
    try:
        import torch
    except ImportError:
        return ()
    # torch.OutOfMemoryError since torch 2.5; torch.cuda.OutOfMemoryError since 1.13 (the WebUI pins 2.1).
    found = {getattr(torch, "OutOfMemoryError", None), getattr(torch.cuda, "OutOfMemoryError", None)}
    return tuple(kind for kind in found if isinstance(kind, type))


def as_dnp_error(error: BaseException) -> DnpError:
    """The `DnpError` a failure is reported as: itself, `OutOfMemory` for torch's, else `UnexpectedError` naming
    the exception's type (with the original chained)."""
    if isinstance(error, DnpError):
        return error
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    wrapped: DnpError = OutOfMemory(text) if is_out_of_memory(error) else UnexpectedError(text)
    wrapped.__cause__ = error
    return wrapped
