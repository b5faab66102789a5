"""Tiny random-weight CLIP models for tests and the `evaluate` demo: real classes, built offline.

- `build_tiny_clip(out_dir)`: a transformers `CLIPModel` folder with a `CLIPProcessor` (the tiny SD pipeline's
  hand-made CLIP tokenizer, 32×32 images), loadable by `TransformersClipModel(out_dir)`; weights as safetensors.
- `tiny_open_clip()`: an `OpenClipModel` of a tiny open-clip architecture registered here (random weights,
  seeded); needs open_clip (and so torchvision).

As with the tiny captioners, the image tower is redrawn with a large spread: at the config's init every image
gets almost the same embedding.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from typing import Any

SEED = 2468
IMAGE_SIZE = 32
WIDTH = 32
EMBED_DIM = 16
OPEN_CLIP_NAME = "dnp-tiny-clip"
_OPEN_CLIP_CONFIG = {
    "embed_dim": EMBED_DIM,
    "vision_cfg": {"image_size": IMAGE_SIZE, "layers": 2, "width": WIDTH, "head_width": 8, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": WIDTH, "heads": 4, "layers": 2},
}


def build_tiny_clip(out_dir: str) -> str:
    """Write a tiny transformers CLIP (model and processor) to `out_dir` and return it."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    from lib_dnp.testing.tiny_captioner import _redraw_image_path, _save
    from lib_dnp.testing.tiny_sd import make_clip_tokenizer

    tokenizer = make_clip_tokenizer()
    text_config = {
        "vocab_size": len(tokenizer), "hidden_size": WIDTH, "intermediate_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "max_position_embeddings": 77, "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id,
    }  # fmt: skip
    vision_config = {"hidden_size": WIDTH, "intermediate_size": 64, "num_hidden_layers": 2,
                     "num_attention_heads": 4, "image_size": IMAGE_SIZE, "patch_size": 8}  # fmt: skip
    config = CLIPConfig(text_config=text_config, vision_config=vision_config, projection_dim=EMBED_DIM)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = CLIPModel(config).eval()
    _redraw_image_path(model, ("vision_model", "visual_projection"), ())
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    )
    return _save(model, CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer), out_dir)


def register_tiny_open_clip() -> str:
    """Register the tiny open-clip architecture (once per process) and return its name."""
    import open_clip

    if OPEN_CLIP_NAME not in open_clip.list_models():
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, f"{OPEN_CLIP_NAME}.json")
            with open(path, "w", encoding="utf-8") as file:
                json.dump(_OPEN_CLIP_CONFIG, file)
            open_clip.add_model_config(path)
    return OPEN_CLIP_NAME


def tiny_open_clip(device: Any = "cpu") -> Any:
    """An `OpenClipModel` of the tiny architecture with seeded random weights, image tower redrawn."""
    import torch

    from lib_dnp.clip_models import OpenClipModel
    from lib_dnp.testing.tiny_captioner import _redraw_image_path

    class _TinyOpenClip(OpenClipModel):
        def _load(self) -> tuple[Any, ...]:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(SEED)
                model, preprocess, tokenizer = super()._load()
            _redraw_image_path(model, ("visual",), ())
            return model, preprocess, tokenizer

    return _TinyOpenClip(register_tiny_open_clip(), pretrained=None, device=device)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build a tiny random-weight transformers CLIP folder.")
    parser.add_argument("out_dir")
    print(build_tiny_clip(parser.parse_args(argv).out_dir))


if __name__ == "__main__":
    main()
