"""A fake CLIP with hand-made embeddings, for tests of scoring and re-ranking whose expected values are computed
by hand: a text embeds as the (normalised) sum of the axes of the words it holds, an image as the vector it was
made from (`vector_image`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image


def vector_image(vector: Sequence[float]) -> Image.Image:
    image = Image.new("RGB", (4, 4))
    image.info["vector"] = list(vector)
    return image


class WordClip:
    """`words[i]` is axis i. A text holding none of the words embeds as a uniform vector.
    With `fail`, encoding texts raises it (a CLIP that cannot load)."""

    def __init__(self, words: Sequence[str], name: str = "word clip", fail: Exception | None = None):
        self.words = list(words)
        self.name = name
        self.fail = fail

    def encode_texts(self, texts: Sequence[str]) -> Any:
        if self.fail:
            raise self.fail
        rows = np.array([[float(word in text) for word in self.words] for text in texts])
        rows[~rows.any(axis=1)] = 1.0  # a text with none of the words: a uniform vector
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    def encode_images(self, images: Sequence[Image.Image]) -> Any:
        rows = np.array([image.info["vector"] for image in images], dtype=float)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)
