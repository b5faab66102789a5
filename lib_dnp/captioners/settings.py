"""How one caption call decodes: its settings, passed with the call (the pool shares one loaded model)."""

from __future__ import annotations

from dataclasses import dataclass

from lib_dnp.captioners.registry import DEFAULT_MAX_TOKENS


def check_positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"[DNP] expected {name} to be an integer >= 1, but got {value!r}")
    return value


@dataclass(frozen=True)
class CaptionSettings:
    """How one call captions, passed with the call so that one loaded model serves requests with different
    settings: `max_tokens` bounds the new tokens of each caption, `num_beams` 1 decodes greedily."""

    max_tokens: int = DEFAULT_MAX_TOKENS
    num_beams: int = 1

    def __post_init__(self) -> None:
        check_positive("max_tokens", self.max_tokens)
        check_positive("num_beams", self.num_beams)

    def fingerprint(self) -> str:
        return f"max_tokens={self.max_tokens}|num_beams={self.num_beams}"
