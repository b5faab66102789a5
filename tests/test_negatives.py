"""Composing the caption with the user's negative, and undoing it for paste-back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lib_dnp.negatives import chunk_note, compose_negative, escape_prompt_syntax, user_negative_of


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
