"""CLIP image and text encoders for the evaluation and for caption re-ranking, behind one small interface.

Two backends give the same OpenAI weights:
- open-clip (`open_clip.create_model_and_transforms("ViT-B-16", pretrained="openai")`), the reference, used when
  `open_clip` imports (the WebUI ships open-clip-torch 2.20; it needs torchvision);
- transformers `CLIPModel` ("openai/clip-vit-base-patch16" / "-patch32"), for installs without torchvision.

`load_clip` picks one; each model names itself (`name`), and reports print that name. Models load on first use.
Rows come back L2-normalised, float64, one per image or text; texts longer than CLIP's 77 tokens are truncated.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from lib_dnp.errors import ModelUnavailable

if TYPE_CHECKING:
    from PIL import Image

Arch = Literal["ViT-B-16", "ViT-B-32"]
Backend = Literal["auto", "open-clip", "transformers"]
TRANSFORMERS_IDS = {"ViT-B-16": "openai/clip-vit-base-patch16", "ViT-B-32": "openai/clip-vit-base-patch32"}
CONTEXT_LENGTH = 77
BATCH = 32


class ClipModel(Protocol):
    """What the scorer and the re-ranker need of a CLIP model."""

    name: str

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray: ...

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray: ...


def open_clip_problem() -> str | None:
    """Why open-clip cannot be used here (it is missing, or its torchvision is), or None when it can."""
    try:
        import open_clip  # noqa: F401
    except Exception as error:  # ImportError, or torchvision's own errors when it does not match torch
        return f"open-clip does not import ({type(error).__name__}: {error})"
    return None


def _rows(tensor: Any) -> np.ndarray:
    rows = tensor.detach().float().cpu().numpy().astype(np.float64)
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


def _chunks(items: Sequence[Any], size: int = BATCH) -> list[Sequence[Any]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


class _LazyClip:
    """Loads on first encode (thread-safe); subclasses define `_load` and the two `_encode_*` on a chunk."""

    name = ""

    def __init__(self, device: Any = "cpu") -> None:
        self.device = device
        self._loaded: tuple[Any, ...] | None = None
        self._offloaded = False
        self._lock = threading.Lock()

    def _load(self) -> tuple[Any, ...]:
        raise NotImplementedError

    def _parts(self) -> tuple[Any, ...]:
        with self._lock:
            if self._loaded is None:
                try:
                    self._loaded = self._load()
                except Exception as error:
                    raise ModelUnavailable(
                        f"[DNP] CLIP model {self.name} could not be loaded: {error}"
                    ) from error
            elif self._offloaded:
                self._loaded[0].to(self.device)
                self._offloaded = False
            return self._loaded

    def offload(self) -> None:
        """Move the model (the first of its parts) to the CPU, keeping it loaded; the next encode moves it back."""
        with self._lock:
            if self._loaded is not None and str(self.device) != "cpu":
                self._loaded[0].to("cpu")
                self._offloaded = True

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        import torch

        parts = self._parts()
        rgb = [image if image.mode == "RGB" else image.convert("RGB") for image in images]
        with torch.inference_mode():
            return np.concatenate([_rows(self._encode_images(parts, chunk)) for chunk in _chunks(rgb)])

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        parts = self._parts()
        with torch.inference_mode():
            return np.concatenate([_rows(self._encode_texts(parts, chunk)) for chunk in _chunks(list(texts))])

    def _encode_images(self, parts: tuple[Any, ...], images: Sequence[Image.Image]) -> Any:
        raise NotImplementedError

    def _encode_texts(self, parts: tuple[Any, ...], texts: Sequence[str]) -> Any:
        raise NotImplementedError


class OpenClipModel(_LazyClip):
    """An open-clip model: `arch` (e.g. "ViT-B-16") with `pretrained` weights ("openai"; None = random)."""

    def __init__(self, arch: str, pretrained: str | None = "openai", device: Any = "cpu") -> None:
        super().__init__(device)
        self.arch, self.pretrained = arch, pretrained
        self.name = f"open-clip {arch} ({pretrained or 'random weights'})"

    def _load(self) -> tuple[Any, ...]:
        import open_clip

        model, _, preprocess = open_clip.create_model_and_transforms(
            self.arch, pretrained=self.pretrained, device=self.device
        )
        return model.eval(), preprocess, open_clip.get_tokenizer(self.arch)

    def _encode_images(self, parts: tuple[Any, ...], images: Sequence[Image.Image]) -> Any:
        import torch

        model, preprocess, _ = parts
        return model.encode_image(torch.stack([preprocess(image) for image in images]).to(self.device))

    def _encode_texts(self, parts: tuple[Any, ...], texts: Sequence[str]) -> Any:
        model, _, tokenizer = parts
        return model.encode_text(tokenizer(list(texts)).to(self.device))  # the tokenizer truncates to 77


class TransformersClipModel(_LazyClip):
    """A transformers `CLIPModel` from a hub id or a folder (with its processor)."""

    def __init__(self, source: str, device: Any = "cpu", label: str | None = None) -> None:
        super().__init__(device)
        self.source = source
        self.name = f"transformers CLIPModel {label or source}"

    def _load(self) -> tuple[Any, ...]:
        from transformers import CLIPModel, CLIPProcessor

        from lib_dnp.captioners.registry import has_safetensors

        kwargs = {"use_safetensors": True} if has_safetensors(self.source) else {}
        model = CLIPModel.from_pretrained(self.source, **kwargs).to(self.device).eval()
        return model, CLIPProcessor.from_pretrained(self.source)

    def _encode_images(self, parts: tuple[Any, ...], images: Sequence[Image.Image]) -> Any:
        model, processor = parts
        pixels = processor(images=list(images), return_tensors="pt")["pixel_values"].to(self.device)
        # vision_model + visual_projection, not get_image_features: that returns a tensor in 4.x, an output in 5.x.
        return model.visual_projection(model.vision_model(pixel_values=pixels).pooler_output)

    def _encode_texts(self, parts: tuple[Any, ...], texts: Sequence[str]) -> Any:
        model, processor = parts
        tokens = processor.tokenizer(
            list(texts), padding=True, truncation=True, max_length=CONTEXT_LENGTH, return_tensors="pt"
        )
        output = model.text_model(
            input_ids=tokens["input_ids"].to(self.device),
            attention_mask=tokens["attention_mask"].to(self.device),
        )
        return model.text_projection(output.pooler_output)


def load_clip(arch: Arch, backend: Backend = "auto", device: Any = "cpu") -> ClipModel:
    """The OpenAI CLIP `arch` through `backend` ("auto": open-clip when it imports, else transformers).
    Nothing is loaded until the first encode."""
    if arch not in TRANSFORMERS_IDS:
        raise ValueError(
            f"[DNP] expected a CLIP architecture in {sorted(TRANSFORMERS_IDS)}, but got {arch!r}"
        )
    if backend == "auto":
        backend = "transformers" if open_clip_problem() else "open-clip"
    if backend == "open-clip":
        problem = open_clip_problem()
        if problem:
            raise ModelUnavailable(
                f"[DNP] the open-clip CLIP backend is not usable: {problem}", remedy="use --clip transformers"
            )
        return OpenClipModel(arch, "openai", device)
    if backend == "transformers":
        return TransformersClipModel(TRANSFORMERS_IDS[arch], device)
    raise ValueError(
        f"[DNP] expected a CLIP backend 'auto', 'open-clip' or 'transformers', but got {backend!r}"
    )
