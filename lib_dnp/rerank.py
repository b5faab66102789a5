"""CLIP re-ranking of caption candidates (beyond the paper).

The captioner proposes several captions of a DNS image (`HFCaptioner.caption_candidates`); CLIP keeps one:
- "image": the candidate closest to the DNS image, max cos(image, caption): the most faithful description of
  what the model drew when pushed away from the prompt;
- "prompt": the candidate farthest from the prompt, min cos(prompt, caption): a negative that names as little of
  what the user asked for as possible.
Ties go to the earlier (better-beam) candidate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from lib_dnp.clip_models import ClipModel

MODES = ("image", "prompt")


class CaptionReranker:
    """Picks one caption per image with a CLIP model (`lib_dnp.clip_models.ClipModel`, which loads
    lazily: building a re-ranker costs nothing)."""

    def __init__(self, clip: ClipModel) -> None:
        self.clip = clip

    @property
    def name(self) -> str:
        return self.clip.name

    def choose(
        self, mode: str, images: Sequence[Any], prompts: Sequence[str], candidates: Sequence[Sequence[str]]
    ) -> list[int]:
        """The index of the chosen candidate of each image."""
        if mode not in MODES:
            raise ValueError(f"[DNP] expected a re-rank mode in {MODES}, but got {mode!r}")
        if not (len(images) == len(prompts) == len(candidates)):
            raise ValueError(
                f"[DNP] expected one prompt and one candidate list per image, but got {len(images)} images, "
                f"{len(prompts)} prompts and {len(candidates)} candidate lists"
            )
        texts = [text for group in candidates for text in group]
        text_rows = self.clip.encode_texts(texts)
        if mode == "image":
            anchors = self.clip.encode_images(images)
        else:
            anchors = self.clip.encode_texts(list(prompts))
        picks, start = [], 0
        for anchor, group in zip(anchors, candidates):
            similarity = text_rows[start : start + len(group)] @ anchor  # rows are unit vectors: cosines
            start += len(group)
            picks.append(int(np.argmax(similarity) if mode == "image" else np.argmin(similarity)))
        return picks
