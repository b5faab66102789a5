"""Turning a captioner's raw text into a usable negative prompt.

Rules, in order:
1. BLIP's hallucinated "arafed" family (arafed, arafe, araffe, araffed, araffes, arrafed, arafian, ... any case) is
   dropped as a whole word: it is a known BLIP artefact, not a word, and as a negative prompt it only spends
   tokens. When it followed an article, the article is re-chosen for the word that now follows it:
   "there is an arafed man" -> "there is a man", "an araffe elephant" -> "an elephant". Only that article is
   touched; other "a"/"an" in the caption are left as the model wrote them.
2. Whitespace runs collapse to one space.
3. Punctuation and spaces at either end are stripped, before and after rule 4.
4. A trailing repetition loop collapses to one copy: a single word repeated three or more times ("on a a a a" ->
   "on a"), or a phrase of two to four words repeated twice or more ("on the beach on the beach" -> "on the
   beach"), including a cut-off copy at the very end. Words are compared ignoring case and the punctuation at
   their ends. One word said twice is left alone ("bora bora").
Text that is empty after all this gives "". Cleaning a cleaned caption changes nothing.
"""

from __future__ import annotations

import re
import string

_ARAFED = r"ar{1,2}af{1,2}(?:e|ed|es|eds|ian|ians)"
_ARTICLE_BEFORE_ARAFED = re.compile(rf"\b(an?)\s+{_ARAFED}\b\s*(?=(\w?))", re.IGNORECASE)
_LONE_ARAFED = re.compile(rf"\b{_ARAFED}\b", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
_EDGE_CHARACTERS = string.punctuation + string.whitespace

_MAX_LOOP_WORDS = 4


def _article_for(next_letter: str, written: str) -> str:
    article = "an" if next_letter and next_letter.lower() in "aeiou" else "a"
    return article.capitalize() if written[:1].isupper() else article


def _drop_arafed(text: str) -> str:
    def replace_with_article(match: re.Match[str]) -> str:
        return _article_for(match.group(2), match.group(1)) + " "

    text = _ARTICLE_BEFORE_ARAFED.sub(replace_with_article, text)
    return _LONE_ARAFED.sub(" ", text)


def _loop_start(words: list[str], unit_length: int, partial: int) -> int | None:
    """Index where a trailing loop of `unit_length`-word copies begins (followed by `partial` words of a cut-off
    copy), or None when the words there do not loop often enough."""
    folded = [word.strip(_EDGE_CHARACTERS).lower() for word in words]
    body_end = len(folded) - partial
    if body_end < 2 * unit_length:
        return None
    unit = folded[body_end - unit_length : body_end]
    if folded[body_end:] != unit[:partial]:
        return None
    start = body_end - unit_length
    copies = 1
    while start >= unit_length and folded[start - unit_length : start] == unit:
        start -= unit_length
        copies += 1
    needed = 3 if unit_length == 1 else 2
    return start if copies >= needed else None


def _collapse_trailing_loop(words: list[str]) -> list[str]:
    # A loop can be read in several phases ("beach on the | beach on the" or "on the beach | on the beach | on
    # the"); the reading that starts earliest removes the whole loop, so the shortest result wins.
    shortest = words
    for unit_length in range(1, _MAX_LOOP_WORDS + 1):
        for partial in range(unit_length):
            start = _loop_start(words, unit_length, partial)
            if start is not None and start + unit_length < len(shortest):
                shortest = words[: start + unit_length]
    return shortest


def clean_caption(text: str) -> str:
    """A captioner's output made fit for a negative prompt; the rules are in this module's docstring."""
    words = _WHITESPACE.sub(" ", _drop_arafed(text)).strip(_EDGE_CHARACTERS).split(" ")
    # A collapse can expose an older loop ("a a a on the on the"): repeat until nothing changes.
    while True:
        shorter = _collapse_trailing_loop(words)
        if shorter == words:
            break
        words = shorter
    return " ".join(words).strip(_EDGE_CHARACTERS)
