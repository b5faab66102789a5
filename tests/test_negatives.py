"""Composing the caption with the user's negative, and undoing it for paste-back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lib_dnp.negatives import (
    PaddingError,
    chunk_note,
    compose_negative,
    equalize_chunks,
    escape_prompt_syntax,
    pad_to_chunks,
    strip_padding,
    user_negative_of,
)
from tests.webui.fixtures.negatives import USER_NEGATIVES


@pytest.mark.parametrize(
    ("user", "caption", "composition", "expected"),
    [
        ("blurry", "a red house", "append", "blurry, a red house"),
        ("blurry", "a red house", "prepend", "a red house, blurry"),
        ("blurry", "a red house", "replace", "a red house"),
        ("", "a red house", "append", "a red house"),
        ("   ", "a red house", "prepend", "a red house"),
        ("blurry", "", "append", "blurry"),
        ("blurry", "  ", "replace", "blurry"),
        ("", "", "append", ""),
        (" blurry ", " a house ", "append", "blurry, a house"),
    ],
)
def test_compose(user, caption, composition, expected):
    assert compose_negative(user, caption, composition) == expected


def test_compose_rejects_unknown_composition():
    with pytest.raises(ValueError, match="merge"):
        compose_negative("a", "b", "merge")


words = st.text(alphabet="abc xyz,()", min_size=0, max_size=20).map(str.strip)


@given(user=words, caption=words, composition=st.sampled_from(["append", "prepend"]))
def test_user_negative_round_trip(user, caption, composition):
    """Paste-back then generate again gives the same negative, and restores the user's own where it can."""
    composed = compose_negative(user, caption, composition)
    restored = user_negative_of(composed, caption, composition)
    assert compose_negative(restored, caption, composition) == composed
    if (
        caption
        and user
        and user != caption
        and not user.endswith(", " + caption)
        and not user.startswith(caption + ", ")
    ):
        assert restored == user


@given(user=words, caption=words, composition=st.sampled_from(["append", "prepend", "replace"]))
def test_compose_is_idempotent(user, caption, composition):
    once = compose_negative(user, caption, composition)
    assert compose_negative(once, caption, composition) == once


def test_replace_forgets_the_user_negative():
    assert user_negative_of("a house", "a house", "replace") == ""


def test_unrelated_negative_is_left_alone():
    assert user_negative_of("blurry, ugly", "a house", "append") == "blurry, ugly"


def count_words(text: str) -> int:
    return len(text.split())


def test_chunk_note_when_crossing_75_tokens():
    user = " ".join(["w"] * 70)
    composed = compose_negative(user, "a b c d e f g h i j", "append")
    note = chunk_note(user, composed, count_words)
    assert note is not None and "80 tokens" in note and "2 chunks" in note and "instead of 1" in note


def test_no_chunk_note_within_a_chunk():
    assert chunk_note("blurry", "blurry, a house", count_words) is None
    assert chunk_note("", "a house", count_words) is None


def test_captions_are_escaped_for_the_webui_prompt_parser():
    assert escape_prompt_syntax("a man (in a hat) [red:blue:0.5]") == r"a man \(in a hat\) \[red:blue:0.5\]"
    assert escape_prompt_syntax(r"back\slash") == r"back\\slash"
    assert escape_prompt_syntax("plain words, commas: fine") == "plain words, commas: fine"


def webui_chunks(text: str) -> int:
    """The WebUI's chunk count (sd_hijack_clip.tokenize_line) with words as tokens: BREAK closes the chunk it is
    in (an empty one included), a chunk holds 75 tokens, a text ends with its open chunk or, if empty, one."""
    import re

    chunks, tokens = 0, 0
    for index, part in enumerate(re.split(r"\s*\bBREAK\b\s*", text)):
        if index > 0:
            chunks, tokens = chunks + 1, 0
        for _ in part.replace(",", " , ").split():
            if tokens == 75:
                chunks, tokens = chunks + 1, 0
            tokens += 1
    return chunks + (1 if tokens or not chunks else 0)


def words(n: int) -> str:
    return " ".join(f"w{i}" for i in range(n))


@pytest.mark.parametrize(
    ("text", "chunks", "expected", "added"),
    [
        ("blurry", 2, "blurry BREAK BREAK", 2),  # the first BREAK only closes the text's chunk
        ("blurry", 3, "blurry BREAK BREAK BREAK", 3),
        ("", 2, "BREAK BREAK", 2),
        ("a BREAK", 2, "a BREAK BREAK", 1),  # the user's own trailing BREAK already closed the chunk
        (words(75), 2, words(75) + " BREAK BREAK", 2),  # a full chunk is still open at the end
        ("blurry", 1, "blurry", 0),
        (words(80), 2, words(80), 0),
    ],
)
def test_pad_to_chunks(text, chunks, expected, added):
    assert webui_chunks(text) <= chunks
    assert pad_to_chunks(text, chunks, webui_chunks) == (expected, added)
    assert webui_chunks(expected) == chunks


def test_padding_that_cannot_lengthen_is_an_error():
    with pytest.raises(PaddingError, match="3 chunks"):
        pad_to_chunks("(unclosed", 3, lambda text: 1)


def test_each_batch_is_padded_to_its_own_longest_negative():
    user = USER_NEGATIVES["long"]
    captions = ["a skateboarder on a cobblestone street", words(40), "a cat", "a dog on a bench"]
    negatives = [compose_negative(user, caption, "append") for caption in captions]
    counts = [webui_chunks(n) for n in negatives]
    assert counts[:2] == [2, 3] and counts[2:] == [2, 2], counts  # the caption of image 2 crosses a boundary
    padded = equalize_chunks(negatives, 2, webui_chunks)
    assert [webui_chunks(text) for text, _ in padded] == [3, 3, 2, 2]
    assert padded[0] == (negatives[0] + " BREAK BREAK", 2)
    assert padded[1:] == [(n, 0) for n in negatives[1:]]


@pytest.mark.parametrize("batch_size", [1, 2, 3, 4])
@pytest.mark.parametrize("user", list(USER_NEGATIVES.values()), ids=list(USER_NEGATIVES))
def test_padded_negatives_of_a_batch_have_equal_chunks_and_strip_back(user, batch_size):
    captions = [words(n) for n in (9, 41, 23, 30, 12, 38, 9, 27)]
    negatives = [compose_negative(user, caption, "append") for caption in captions]
    padded = equalize_chunks(negatives, batch_size, webui_chunks)
    for start in range(0, len(padded), batch_size):
        assert len({webui_chunks(text) for text, _ in padded[start : start + batch_size]}) == 1
    assert [strip_padding(text, added) for text, added in padded] == negatives


@given(text=st.text(alphabet="ab ,", max_size=30), extra=st.integers(0, 3))
def test_strip_padding_undoes_pad_to_chunks(text, extra):
    padded, added = pad_to_chunks(text, webui_chunks(text) + extra, webui_chunks)
    assert strip_padding(padded, added) == text


def test_strip_padding_leaves_a_negative_without_that_padding_alone():
    assert strip_padding("blurry BREAK", 2) == "blurry BREAK"
    assert strip_padding("blurry", 0) == "blurry"
