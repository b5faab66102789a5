"""The main pass's own settings in the front ends outside the WebUI: defaults and bounds, written once.

`python -m lib_dnp generate|evaluate`, the diffusers front end and the benchmark read them from here; DNP's own
options live in `lib_dnp.params.DnpParams`. Each bound checks a command-line value and says what it allows.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_STEPS = 20
DEFAULT_CFG = 7.5
MAX_SEED = 2**32 - 1  # the WebUI's seeds are 32-bit


class OutOfBounds(ValueError):
    """A setting outside its bounds; str() says what is allowed and what was given."""


@dataclass(frozen=True)
class Bound:
    """An integer or number setting from `low` to `high`, optionally a multiple of `multiple`."""

    kind: type
    low: float
    high: float
    multiple: int = 1

    def allowed(self) -> str:
        what = "an integer" if self.kind is int else "a number"
        if self.multiple > 1:
            what = f"a multiple of {self.multiple}"
        return f"{what} from {self.low} to {self.high}"

    def parse(self, text: str) -> int | float:
        """`text` as this setting's value; raises OutOfBounds naming what is allowed."""
        try:
            value = self.kind(text)
        except ValueError:
            raise OutOfBounds(f"expected {self.allowed()}, but got {text!r}") from None
        if not (self.low <= value <= self.high) or value % self.multiple:
            raise OutOfBounds(f"expected {self.allowed()}, but got {text}")
        return value


BOUNDS = {
    "steps": Bound(int, 1, 150),
    "cfg": Bound(float, 1.0, 30.0),
    # diffusers' Stable Diffusion pipelines need sides divisible by the VAE's 8.
    "width": Bound(int, 64, 4096, 8),
    "height": Bound(int, 64, 4096, 8),
    "seed": Bound(int, -1, MAX_SEED),  # -1: a random seed
    "seeds": Bound(int, 1, 10_000),
    "first_seed": Bound(int, 0, MAX_SEED),
    "batch_size": Bound(int, 1, 64),
}
