"""A tiny random-weight Stable Diffusion pipeline for tests and the CLI demo: real diffusers classes, built offline.

`build_tiny_sd_pipeline(out_dir)` writes a folder that `StableDiffusionPipeline.from_pretrained` loads like a hub
model: a UNet2DConditionModel (channels 32/64, cross-attention dim 32, 8×8 latents), an AutoencoderKL with the real
8× downscale (four blocks), a two-layer CLIP text encoder, a CLIP tokenizer written here from a hand-made
vocabulary, and an Euler scheduler with SD 1.x's betas. Weights are seeded, so two builds are identical; they are
saved as safetensors. The default image is 64×64 and a 2-step generation takes well under a second on a CPU.

A folder loads in the diffusers/transformers versions that wrote it (tokenizer files differ between transformers
4.x and 5.x); callers that cache it key the folder by those versions.

    python -m lib_dnp.testing.tiny_sd OUT_DIR
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from typing import Any

SEED = 4321
LATENT_SIZE = 8
VAE_SCALE = 8  # four VAE blocks: three 2× downsamples, as in SD
IMAGE_SIZE = LATENT_SIZE * VAE_SCALE
TEXT_DIM = 32
# Cross-attention weights drawn with this spread: at the default init the prompt moves a tiny UNet's image only a
# little (a DNS image looks like the plain one); at 0.5 a prompt change moves it about as much as a seed change.
CROSS_ATTENTION_STD = 0.5
BOS, EOS = "<|startoftext|>", "<|endoftext|>"

# A few hundred words a test prompt or a caption may use; each gets its own `word</w>` token.
_WORD_TEXT = """
a an the and or with without on in of at by near under over behind from into for to up down out off man woman
boy girl child baby person people face eyes hair hand hands body men women children friends dog cat horse bird
fish cow sheep pig elephant giraffe zebra bear lion tiger monkey rabbit mouse duck car truck bus train boat
ship plane bike motorcycle street road city town village building house tower bridge window door wall roof
room kitchen table chair bed couch desk lamp clock tv computer phone book cup bowl plate bottle glass pizza
cake bread sandwich banana apple orange fruit food flowers flower tree trees grass field garden forest beach
ocean sea water river lake sky clouds sun moon star stars snow rain mountain mountains hill rock stone sand
park sign fence bench umbrella kite ball hat dress shirt shoes jacket crown bow sword shield castle robot
dragon knight king queen ghost skull fire smoke light shadow red blue green yellow white black brown pink
purple gray gold silver dark bright colorful pale large small big little tiny huge old young new tall short
long wide round square empty full sitting standing walking running riding holding eating playing looking
flying lying wearing smiling painting photo photograph picture drawing sketch portrait landscape closeup view
scene art style blurry sharp detailed realistic cartoon anime abstract ugly beautiful pretty cute scary
strange bad good best worst low high quality resolution noise grain text watermark logo signature frame border
deformed distorted extra missing fingers limbs cropped duplicate mutated disfigured poorly drawn two three
four five many some group pair front back side top bottom left right center middle is are was it there this
that his her their its very while together other one another each day night morning evening summer winter
spring autumn indoor outdoor inside outside background
"""
_WORDS = list(dict.fromkeys(_WORD_TEXT.split()))


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte → printable character map (the same table CLIPTokenizer uses)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return {byte: chr(code) for byte, code in zip(printable, codes)}


def _bpe(symbols: list[str], ranks: dict[tuple[str, str], int]) -> list[str]:
    """CLIP's BPE: merge the lowest-ranked adjacent pair, everywhere it occurs, until no ranked pair is left."""
    pieces = list(symbols)
    while len(pieces) > 1:
        pair = min(zip(pieces, pieces[1:]), key=lambda candidate: ranks.get(candidate, len(ranks)))
        if pair not in ranks:
            break
        merged: list[str] = []
        i = 0
        while i < len(pieces):
            if i + 1 < len(pieces) and (pieces[i], pieces[i + 1]) == pair:
                merged.append(pieces[i] + pieces[i + 1])
                i += 2
            else:
                merged.append(pieces[i])
                i += 1
        pieces = merged
    return pieces


def write_clip_vocab(folder: str) -> None:
    """vocab.json + merges.txt in CLIP's format: every byte alone and with `</w>` (so no text is unknown), then
    each word of `_WORDS` merged into one `word</w>` token."""
    vocab: dict[str, int] = {}

    def add(token: str) -> None:
        vocab.setdefault(token, len(vocab))

    characters = list(_bytes_to_unicode().values())
    for token in characters + [character + "</w>" for character in characters]:
        add(token)
    ranks: dict[tuple[str, str], int] = {}
    for word in _WORDS:
        # Merge the word's first two pieces, as BPE with the merges so far splits it, until it is one token. A new
        # merge ranks last, so it never changes how an earlier word (already one token) is split.
        pieces = _bpe([*word[:-1], word[-1] + "</w>"], ranks)
        while len(pieces) > 1:
            ranks[(pieces[0], pieces[1])] = len(ranks)
            add(pieces[0] + pieces[1])
            pieces = _bpe(pieces, ranks)
    merges = [f"{left} {right}" for left, right in ranks]  # dicts keep insertion order = rank order
    add(BOS)
    add(EOS)
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as file:
        json.dump(vocab, file, ensure_ascii=False)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as file:
        file.write("#version: 0.2\n" + "\n".join(merges) + "\n")


def make_clip_tokenizer() -> Any:
    from transformers import CLIPTokenizer

    # from_pretrained reads vocabulary files in every transformers version (constructor arguments were renamed).
    with tempfile.TemporaryDirectory() as folder:
        write_clip_vocab(folder)
        return CLIPTokenizer.from_pretrained(
            folder, bos_token=BOS, eos_token=EOS, unk_token=EOS, pad_token=EOS, model_max_length=77
        )


def _redraw_zero_weights(model: Any, generator: Any) -> None:
    """ldm-style checkpoints zero their output convs and attention projections; a model with such zeros ignores
    its prompt. Redraw any all-zero weight matrix or kernel (norm and bias vectors may stay zero)."""
    import torch

    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.ndim >= 2 and not parameter.any():
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)


def _strengthen_cross_attention(unet: Any, generator: Any) -> None:
    import torch

    with torch.no_grad():
        for name, module in unet.named_modules():
            if name.endswith("attn2"):  # diffusers' name for the cross-attention of each transformer block
                for parameter in module.parameters():
                    if parameter.ndim >= 2:
                        parameter.copy_(
                            torch.randn(parameter.shape, generator=generator) * CROSS_ATTENTION_STD
                        )


def build_components() -> dict[str, Any]:
    """The pipeline's components, seeded: unet, vae, text_encoder, tokenizer, scheduler."""
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = make_clip_tokenizer()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        unet = UNet2DConditionModel(
            sample_size=LATENT_SIZE, in_channels=4, out_channels=4, layers_per_block=1,
            block_out_channels=(32, 64), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=TEXT_DIM, attention_head_dim=4,
        )  # fmt: skip
        vae = AutoencoderKL(
            in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1, norm_num_groups=8,
            block_out_channels=(8, 8, 16, 16), down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4, sample_size=IMAGE_SIZE,
        )  # fmt: skip
        text_config = CLIPTextConfig(
            vocab_size=len(tokenizer), hidden_size=TEXT_DIM, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, max_position_embeddings=77, projection_dim=TEXT_DIM,
            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )  # fmt: skip
        text_encoder = CLIPTextModel(text_config)
        generator = torch.Generator().manual_seed(SEED)
        for model in (unet, vae, text_encoder):
            _redraw_zero_weights(model, generator)
            model.eval()
        _strengthen_cross_attention(unet, generator)
    # SD 1.x's training schedule (v1-inference.yaml), stepped with Euler.
    scheduler = EulerDiscreteScheduler(
        num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        steps_offset=1, timestep_spacing="leading",
    )  # fmt: skip
    return {
        "unet": unet,
        "vae": vae,
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "scheduler": scheduler,
    }


def build_tiny_sd_pipeline(out_dir: str) -> str:
    """Write the tiny pipeline to `out_dir` (created if needed) and return it."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline(
        **build_components(), safety_checker=None, feature_extractor=None, requires_safety_checker=False
    )
    os.makedirs(out_dir, exist_ok=True)
    pipe.save_pretrained(out_dir, safe_serialization=True)
    return out_dir


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Build a tiny random-weight Stable Diffusion pipeline folder."
    )
    parser.add_argument("out_dir")
    print(build_tiny_sd_pipeline(parser.parse_args(argv).out_dir))


if __name__ == "__main__":
    main()
