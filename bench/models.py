"""The models the benchmark runs: tiny ones on the CPU, real-size architectures with random weights on a GPU.

Everything is built from configs in memory (no download is possible or needed): the timing of a UNet, a VAE, a
text encoder or a captioner depends on its architecture and its input size, not on its weights. Random weights do
make fp16 activations overflow now and then; the kernels run the same either way.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Any

# BLIP-large (Salesforce/blip-image-captioning-large): ViT-L/16 at 384², a 12-layer BERT decoder.
BLIP_LARGE_VISION = {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24,
                     "num_attention_heads": 16, "image_size": 384, "patch_size": 16}  # fmt: skip
BLIP_LARGE_TEXT = {"vocab_size": 30524, "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
                   "num_attention_heads": 12, "encoder_hidden_size": 1024, "max_position_embeddings": 512,
                   "bos_token_id": 30522, "sep_token_id": 102, "eos_token_id": 2, "pad_token_id": 0}  # fmt: skip
CLIP_L = {"vocab_size": 49408, "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
          "num_attention_heads": 12, "max_position_embeddings": 77, "hidden_act": "quick_gelu",
          "projection_dim": 768}  # fmt: skip
OPENCLIP_BIGG = {"vocab_size": 49408, "hidden_size": 1280, "intermediate_size": 5120, "num_hidden_layers": 32,
                 "num_attention_heads": 20, "max_position_embeddings": 77, "hidden_act": "gelu",
                 "projection_dim": 1280}  # fmt: skip
SD_VAE = {"in_channels": 3, "out_channels": 3, "latent_channels": 4, "layers_per_block": 2,
          "block_out_channels": (128, 256, 512, 512), "down_block_types": ("DownEncoderBlock2D",) * 4,
          "up_block_types": ("UpDecoderBlock2D",) * 4, "norm_num_groups": 32}  # fmt: skip
SD15_UNET = {"sample_size": 64, "in_channels": 4, "out_channels": 4, "layers_per_block": 2,
             "block_out_channels": (320, 640, 1280, 1280), "cross_attention_dim": 768, "attention_head_dim": 8,
             "down_block_types": ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
             "up_block_types": ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3}  # fmt: skip
SDXL_UNET = {"sample_size": 128, "in_channels": 4, "out_channels": 4, "layers_per_block": 2,
             "block_out_channels": (320, 640, 1280), "cross_attention_dim": 2048, "attention_head_dim": (5, 10, 20),
             "transformer_layers_per_block": (1, 2, 10), "use_linear_projection": True,
             "addition_embed_type": "text_time", "addition_time_embed_dim": 256,
             "projection_class_embeddings_input_dim": 2816,
             "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
             "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D")}  # fmt: skip


@dataclass
class Setup:
    """One benchmark configuration: a pipeline, a captioner, and the generation it times."""

    name: str
    pipe: Any
    captioner: Any
    width: int
    height: int
    steps: int
    batch: int
    device: str


def tiny_setup(batch: int = 1, steps: int = 20, size: int = 256) -> Setup:
    """The tiny random SD pipeline and BLIP of the tests, on the CPU. 256² keeps the fast preset's ¾ size a real
    reduction (192², multiples of 64)."""
    from diffusers import StableDiffusionPipeline

    from lib_dnp.captioners import HFCaptioner
    from lib_dnp.testing.tiny_captioner import build_tiny_blip
    from lib_dnp.testing.tiny_sd import build_components

    pipe = StableDiffusionPipeline(
        **build_components(), safety_checker=None, feature_extractor=None, requires_safety_checker=False
    )
    folder = build_tiny_blip(tempfile.mkdtemp(prefix="dnp-bench-blip-"))
    captioner = HFCaptioner(folder, device="cpu", max_tokens=30)
    return Setup("tiny (CPU)", pipe, captioner, size, size, steps, batch, "cpu")


def _scheduler() -> Any:
    from diffusers import EulerDiscreteScheduler

    return EulerDiscreteScheduler(
        num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        steps_offset=1, timestep_spacing="leading",
    )  # fmt: skip


def _clip(config: dict[str, Any], with_projection: bool) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    model_class = CLIPTextModelWithProjection if with_projection else CLIPTextModel
    return model_class(CLIPTextConfig(**config, bos_token_id=49406, eos_token_id=49407, pad_token_id=49407))


def _on_device(build: Any, device: str, dtype: Any) -> Any:
    """Build directly on the device (a 2.6 B-parameter UNet initialised on the CPU takes minutes), then cast."""
    import torch

    with torch.device(device):
        return build().to(dtype).eval()


def real_pipeline(kind: str, device: str = "cuda") -> Any:
    """SD1.5 or SDXL at real size, random weights, fp16, Euler; the tokenizer is the tests' hand-made CLIP one."""
    import torch
    from diffusers import (
        AutoencoderKL,
        StableDiffusionPipeline,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )

    from lib_dnp.testing.tiny_sd import make_clip_tokenizer

    dtype = torch.float16
    tokenizer = make_clip_tokenizer()
    # force_upcast False: decode in fp16, as with the fp16-safe SDXL VAE most people use.
    vae = _on_device(lambda: AutoencoderKL(**SD_VAE, force_upcast=False), device, dtype)
    if kind == "sd15":
        unet = _on_device(lambda: UNet2DConditionModel(**SD15_UNET), device, dtype)
        text_encoder = _on_device(lambda: _clip(CLIP_L, False), device, dtype)
        return StableDiffusionPipeline(
            vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=_scheduler(),
            safety_checker=None, feature_extractor=None, requires_safety_checker=False,
        )  # fmt: skip
    unet = _on_device(lambda: UNet2DConditionModel(**SDXL_UNET), device, dtype)
    text_encoder = _on_device(lambda: _clip(CLIP_L, False), device, dtype)
    text_encoder_2 = _on_device(lambda: _clip(OPENCLIP_BIGG, True), device, dtype)
    return StableDiffusionXLPipeline(
        vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2, tokenizer=tokenizer,
        tokenizer_2=tokenizer, unet=unet, scheduler=_scheduler(),
    )  # fmt: skip


def blip_large_captioner(device: str = "cuda", max_tokens: int = 30, fast_decode: bool | None = None) -> Any:
    """An HFCaptioner holding BLIP-large with random weights, with the tiny BLIP's processor (resizing to 384²)
    and tokenizer (ids outside its vocabulary decode to nothing). Its end token is made unreachable, so every
    caption is exactly `max_tokens` long, as the issue's 30-token target assumes."""
    import torch
    from transformers import BlipConfig, BlipForConditionalGeneration

    from lib_dnp.captioners import HFCaptioner
    from lib_dnp.testing.tiny_captioner import build_tiny_blip

    folder = build_tiny_blip(tempfile.mkdtemp(prefix="dnp-bench-blip-large-"))  # for its processor files
    config = BlipConfig(text_config=BLIP_LARGE_TEXT, vision_config=BLIP_LARGE_VISION, projection_dim=512,
                        image_text_hidden_size=256)  # fmt: skip
    model = _on_device(lambda: BlipForConditionalGeneration(config), device, torch.float16)
    with torch.no_grad():
        model.text_decoder.cls.predictions.decoder.bias[BLIP_LARGE_TEXT["sep_token_id"]] = -1e4
    captioner = HFCaptioner(folder, device=device, dtype=torch.float16, max_tokens=max_tokens,
                            fast_decode=fast_decode)  # fmt: skip
    captioner.load()  # the tiny model and its processor ...
    captioner._model = model  # ... then the real-size model in its place (the processor resizes to 384²)
    captioner._processor.image_processor.size = {"height": 384, "width": 384}
    captioner._placement = (torch.device(device), torch.float16)
    return captioner


def gpu_setups(batch: int = 1) -> list[Setup]:
    captioner = blip_large_captioner()
    return [
        Setup("SD1.5 512² 20 steps", real_pipeline("sd15"), captioner, 512, 512, 20, batch, "cuda"),
        Setup("SDXL 1024² 30 steps", real_pipeline("sdxl"), captioner, 1024, 1024, 30, batch, "cuda"),
    ]
