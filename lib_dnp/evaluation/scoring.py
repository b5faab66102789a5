"""The scores of the DNP paper's evaluation, as pure arithmetic on CLIP embeddings.

Attend-and-Excite CLIP scores (the paper follows A&E's protocol; OpenAI CLIP ViT-B/16, raw cosine):
- the text embedding of a text is the mean of the L2-normalised embeddings of the 80 ImageNet prompt templates
  filled with it, normalised again (A&E's `get_embedding_for_prompt`);
- full-prompt score of an image: cos(image, text embedding of the prompt);
- min-object score of an image: min over the prompt's objects (`prompts.object_parts`) of cos(image, text
  embedding of the object); each is averaged over images.

Hessel et al.'s CLIPScore (ViT-B/32): `w · max(cos(image, text), 0)` with w = 2.5, the text being the prompt
after Hessel's prefix "A photo depicts ".

Everything here works on numpy rows; the CLIP models (`clip_models`) only turn images and texts into rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from lib_dnp.evaluation.prompts import object_parts

if TYPE_CHECKING:
    from lib_dnp.clip_models import ClipModel

CLIPSCORE_WEIGHT = 2.5
CLIPSCORE_PREFIX = "A photo depicts "

# OpenAI CLIP's 80 ImageNet prompt templates, as A&E uses them.
IMAGENET_TEMPLATES = (
    "a bad photo of a {}.", "a photo of many {}.", "a sculpture of a {}.", "a photo of the hard to see {}.",
    "a low resolution photo of the {}.", "a rendering of a {}.", "graffiti of a {}.", "a bad photo of the {}.",
    "a cropped photo of the {}.", "a tattoo of a {}.", "the embroidered {}.", "a photo of a hard to see {}.",
    "a bright photo of a {}.", "a photo of a clean {}.", "a photo of a dirty {}.", "a dark photo of the {}.",
    "a drawing of a {}.", "a photo of my {}.", "the plastic {}.", "a photo of the cool {}.",
    "a close-up photo of a {}.", "a black and white photo of the {}.", "a painting of the {}.",
    "a painting of a {}.", "a pixelated photo of the {}.", "a sculpture of the {}.", "a bright photo of the {}.",
    "a cropped photo of a {}.", "a plastic {}.", "a photo of the dirty {}.", "a jpeg corrupted photo of a {}.",
    "a blurry photo of the {}.", "a photo of the {}.", "a good photo of the {}.", "a rendering of the {}.",
    "a {} in a video game.", "a photo of one {}.", "a doodle of a {}.", "a close-up photo of the {}.",
    "a photo of a {}.", "the origami {}.", "the {} in a video game.", "a sketch of a {}.", "a doodle of the {}.",
    "a origami {}.", "a low resolution photo of a {}.", "the toy {}.", "a rendition of the {}.",
    "a photo of the clean {}.", "a photo of a large {}.", "a rendition of a {}.", "a photo of a nice {}.",
    "a photo of a weird {}.", "a blurry photo of a {}.", "a cartoon {}.", "art of a {}.", "a sketch of the {}.",
    "a embroidered {}.", "a pixelated photo of a {}.", "itap of the {}.", "a jpeg corrupted photo of the {}.",
    "a good photo of a {}.", "a plushie {}.", "a photo of the nice {}.", "a photo of the small {}.",
    "a photo of the weird {}.", "the cartoon {}.", "art of the {}.", "a drawing of the {}.",
    "a photo of the large {}.", "a black and white photo of a {}.", "the plushie {}.", "a dark photo of a {}.",
    "itap of a {}.", "graffiti of the {}.", "a toy {}.", "itap of my {}.", "a photo of a cool {}.",
    "a photo of a small {}.", "a tattoo of the {}.",
)  # fmt: skip


def template_texts(text: str) -> list[str]:
    """The 80 template sentences for `text`. A&E then replaces "a a" and "the a" by "a" (for prompts that start
    with "a"), as plain substring replacements; done the same way here so the numbers are comparable."""
    return [
        template.format(text).replace("a a", "a").replace("the a", "a") for template in IMAGENET_TEMPLATES
    ]


def normalize(rows: Any) -> np.ndarray:
    """Rows scaled to unit L2 norm (float64)."""
    rows = np.asarray(rows, dtype=np.float64)
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


def ensemble(rows: Any) -> np.ndarray:
    """A&E's template ensemble: the mean of the normalised rows, normalised."""
    return normalize(normalize(rows).mean(axis=0))


def cosine(a: Any, b: Any) -> float:
    return float(np.dot(normalize(a), normalize(b)))


def clip_score(cos: float, weight: float = CLIPSCORE_WEIGHT) -> float:
    """Hessel et al.'s CLIPScore of one image-text pair with cosine `cos`."""
    return weight * max(cos, 0.0)


def min_object(image: Any, objects: Sequence[Any]) -> float:
    """The min-object score: the lowest cosine between the image and each object's text embedding."""
    return min(cosine(image, text) for text in objects)


@dataclass(frozen=True)
class ImageScores:
    full_prompt: float
    min_object: float | None  # None when the prompt has no objects to split (see `prompts.object_parts`)
    clip_score: float


class Scorer:
    """Scores images against their prompt with an A&E CLIP (ViT-B/16) and a CLIPScore CLIP (ViT-B/32).

    Template-ensemble text embeddings are computed once per text and kept.
    """

    def __init__(self, ae_clip: ClipModel, clipscore_clip: ClipModel) -> None:
        self.ae_clip = ae_clip
        self.clipscore_clip = clipscore_clip
        self._ensembles: dict[str, np.ndarray] = {}

    def text_embedding(self, text: str) -> np.ndarray:
        """A&E's template-ensemble embedding of `text`."""
        if text not in self._ensembles:
            self._ensembles[text] = ensemble(self.ae_clip.encode_texts(template_texts(text)))
        return self._ensembles[text]

    def score(self, images: Sequence[Any], prompt: str) -> list[ImageScores]:
        """The three scores of each image (all generated for `prompt`), in order."""
        if not images:
            return []
        ae_images = normalize(self.ae_clip.encode_images(images))
        hessel_images = normalize(self.clipscore_clip.encode_images(images))
        hessel_text = normalize(self.clipscore_clip.encode_texts([CLIPSCORE_PREFIX + prompt])[0])
        full = self.text_embedding(prompt)
        parts = object_parts(prompt)
        objects = [self.text_embedding(part) for part in parts] if parts else None
        return [
            ImageScores(
                full_prompt=cosine(ae_image, full),
                min_object=min_object(ae_image, objects) if objects else None,
                clip_score=clip_score(cosine(hessel_image, hessel_text)),
            )
            for ae_image, hessel_image in zip(ae_images, hessel_images)
        ]


def mean(values: Sequence[float | None]) -> float | None:
    """The mean of the values that are not None (None when there are none)."""
    present = [value for value in values if value is not None]
    return sum(present) / len(present) if present else None


def standard_error(values: Sequence[float | None]) -> float | None:
    """The standard error of the mean of the values that are not None (None with fewer than two)."""
    present = [value for value in values if value is not None]
    if len(present) < 2:
        return None
    average = sum(present) / len(present)
    variance = sum((value - average) ** 2 for value in present) / (len(present) - 1)
    return math.sqrt(variance / len(present))
