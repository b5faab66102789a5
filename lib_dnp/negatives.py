"""How a caption joins the user's own negative prompt, and how to take it out again."""

from __future__ import annotations

import re
from collections.abc import Callable

SEPARATOR = ", "
CHUNK_TOKENS = 75  # The WebUI encodes prompts in chunks of 75 CLIP tokens (modules/sd_hijack_clip.py).


# The WebUI's emphasis and prompt-editing syntax: "(word)", "[word]", "(word:1.2)", "[a:b:0.5]" and the escapes.
_PROMPT_SYNTAX = re.compile(r"([\\()\[\]])")


def escape_prompt_syntax(text: str) -> str:
    """A caption as plain words for the WebUI's prompt parser: "a man (in a hat)" must not weight "in a hat"."""
    return _PROMPT_SYNTAX.sub(r"\\\1", text)


def compose_negative(user_negative: str, caption: str, composition: str) -> str:
    """The negative prompt of one image.

    append: "user, caption"; prepend: "caption, user"; replace: "caption". An empty (or blank) part is left out
    with its separator, so no stray ", " appears; an empty caption leaves the user's negative as it is.
    Composing is idempotent: a negative that already holds the caption in its place (pasted parameters of a DNP
    image, sent back through the API) is returned unchanged, so the caption is never added twice.
    """
    user = user_negative.strip()
    text = caption.strip()
    if not text:
        return user_negative
    if user == text or (composition == "append" and user.endswith(SEPARATOR + text)):
        return user
    if composition == "prepend" and user.startswith(text + SEPARATOR):
        return user
    if composition == "replace" or not user:
        return text
    if composition == "append":
        return f"{user}{SEPARATOR}{text}"
    if composition == "prepend":
        return f"{text}{SEPARATOR}{user}"
    raise ValueError(f"expected composition 'append', 'prepend' or 'replace', but got {composition!r}")


def user_negative_of(composed: str, caption: str, composition: str) -> str:
    """Undo `compose_negative`: the user's own negative from an image's negative and its caption.

    Used when infotext is pasted back, so that generating again does not add the caption twice. With `replace`
    the user's negative did not reach the image, and "" is returned.
    """
    text = caption.strip()
    if not text:
        return composed
    if composition == "replace" or composed.strip() == text:
        return ""
    if composition == "append" and composed.endswith(SEPARATOR + text):
        return composed[: -len(SEPARATOR + text)]
    if composition == "prepend" and composed.startswith(text + SEPARATOR):
        return composed[len(text + SEPARATOR) :]
    return composed


def chunk_note(user_negative: str, composed: str, count_tokens: Callable[[str], int]) -> str | None:
    """A note when the caption pushes the negative prompt into another 75-token chunk, else None.

    Each extra chunk is encoded separately and concatenated, which weakens every part a little and costs time.
    """
    before = count_tokens(user_negative) if user_negative.strip() else 0
    after = count_tokens(composed)
    chunks_before = max(1, -(-before // CHUNK_TOKENS))
    chunks_after = max(1, -(-after // CHUNK_TOKENS))
    if chunks_after <= chunks_before:
        return None
    return (
        f"the caption makes the negative prompt {after} tokens: {chunks_after} chunks of {CHUNK_TOKENS} "
        f"instead of {chunks_before}; lower 'Caption max tokens' to keep it in one"
    )


# The WebUI's chunk boundary. After the last chunk of a text, each further BREAK adds one chunk that is token for
# token the WebUI's own `empty_chunk()` (start, 76 × end, weights 1), the chunk it pads shorter texts with itself.
PADDING = "BREAK"


class PaddingError(ValueError):
    """A negative prompt that BREAK cannot lengthen (an unclosed "(" or "[" turns a trailing BREAK into words)."""


def pad_to_chunks(negative: str, chunks: int, count_chunks: Callable[[str], int]) -> tuple[str, int]:
    """`negative` with BREAKs appended until the WebUI encodes it into `chunks` chunks; also the BREAKs added.

    The chunks of the text itself are unchanged, so the image differs from an unpadded one only by the attention
    the extra empty chunks draw. Counted by the WebUI's own chunker (`count_chunks`) after every BREAK, because
    the first BREAK after a text adds no chunk and a BREAK the user wrote last may already have closed one.
    """
    have = count_chunks(negative)
    padded, added = negative, 0
    while have < chunks and added <= chunks + 1:
        padded = f"{padded} {PADDING}" if padded else PADDING
        added += 1
        have = count_chunks(padded)
    if have != chunks:
        raise PaddingError(
            f"expected a negative prompt of {chunks} chunks after padding, but got {have} "
            f"(an unclosed bracket in {_shortened(negative)!r}?)"
        )
    return padded, added


def equalize_chunks(
    negatives: list[str], batch_size: int, count_chunks: Callable[[str], int]
) -> list[tuple[str, int]]:
    """Each negative padded to the chunk count of the longest negative of its batch (job order, `batch_size`
    images a batch). The WebUI stacks the negatives of one batch into one tensor, so they must have equal
    chunk counts; it pads only the positive prompts itself."""
    padded: list[tuple[str, int]] = []
    for start in range(0, len(negatives), max(1, batch_size)):
        batch = negatives[start : start + max(1, batch_size)]
        target = max(count_chunks(text) for text in batch)
        padded.extend(pad_to_chunks(text, target, count_chunks) for text in batch)
    return padded


def strip_padding(negative: str, added: int) -> str:
    """Undo `pad_to_chunks`: `negative` without the `added` BREAKs it appended (unchanged if they are not there)."""
    text = negative
    for _ in range(added):
        if text == PADDING:
            text = ""
        elif text.endswith(" " + PADDING):
            text = text[: -len(" " + PADDING)]
        else:
            return negative
    return text


def _shortened(text: str, length: int = 40) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"
