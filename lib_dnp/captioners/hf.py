"""Captioning with Hugging Face transformers models (BLIP, BLIP-2, GIT and other image-to-text models).

`HFCaptioner` is cheap to construct: torch and transformers are imported, and the model loaded, on the first
`caption()`. It runs on every transformers version the WebUIs pin (4.30.2 in A1111 v1.10, 4.46 in Forge) and on
current 5.x; where they differ it asks the installed version instead of assuming one.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lib_dnp.captioners.cleanup import clean_caption
from lib_dnp.captioners.errors import CaptionerError, CaptionerNotFound
from lib_dnp.captioners.registry import (
    DEFAULT_MAX_TOKENS,
    available_offline,
    download_command,
    has_safetensors,
    hub_cache_dir,
    hub_offline,
    local_folder,
    looks_like_path,
    resolve,
)
from lib_dnp.captioners.settings import CaptionSettings, check_positive

if TYPE_CHECKING:
    import torch
    from PIL import Image

log = logging.getLogger("lib_dnp")

# transformers class for each `model_type`; anything else goes to the image-to-text auto class.
_MODEL_CLASSES = {
    "blip": "BlipForConditionalGeneration",
    "blip-2": "Blip2ForConditionalGeneration",
    "git": "GitForCausalLM",
}
# AutoModelForVision2Seq became AutoModelForImageTextToText (added in 4.46, the old name removed in 5.x).
_AUTO_CLASSES = ("AutoModelForImageTextToText", "AutoModelForVision2Seq")


def _download_remedy(model_id: str) -> str:
    return f"download it once with `{download_command()} {model_id}` (or pick another captioner)"


def _dtype_argument() -> str:
    """Name of `from_pretrained`'s dtype argument: `dtype` since transformers 4.56, `torch_dtype` before (5.x still
    takes `torch_dtype` but warns)."""
    import transformers
    from packaging.version import Version

    return "dtype" if Version(transformers.__version__).release >= (4, 56) else "torch_dtype"


class HFCaptioner:
    """Captions images with a transformers image-to-text model, unconditionally (no text prompt).

    `spec` is a registry key, a hub model id or a local folder. `device` may be changed at any time (the next
    `caption()` moves the model); `dtype` None means fp16 on CUDA and fp32 elsewhere. `max_tokens` and `num_beams`
    are the settings of a call that passes none (`CaptionSettings`); a shared captioner gets them with each call.
    With `allow_download` False, or with HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE set, only a local folder or the
    Hugging Face cache is used. One call captions at a time (a lock): calls from several threads queue.

    `fast_decode` picks the greedy decoder of BLIP models (`lib_dnp.captioners.decode`, same captions as
    `generate`): None uses it on CUDA only, with a CUDA graph per step; True uses it on any device; False never.
    Other models, beam search, or a failure of the fast decoder fall back to `generate`.
    """

    def __init__(
        self,
        spec: str,
        device: str | torch.device = "cpu",
        dtype: torch.dtype | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        num_beams: int = 1,
        *,
        allow_download: bool = True,
        fast_decode: bool | None = None,
    ) -> None:
        self.spec = spec
        self.model_id = resolve(spec)
        if not self.model_id:
            raise ValueError(
                "[DNP] expected a captioner (registry key, model id or folder), but got an empty string"
            )
        self.device = device
        self.dtype = dtype
        self.max_tokens = check_positive("max_tokens", max_tokens)
        self.num_beams = check_positive("num_beams", num_beams)
        self.allow_download = allow_download
        self.fast_decode = fast_decode
        self._decoder: Any = None  # a BlipDecoder for the model where it is now; dropped whenever it moves
        self._fast_failed = False
        self._model: Any = None
        self._processor: Any = None
        self._placement: tuple[Any, Any] | None = None  # (torch.device, torch.dtype) the model is at now
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"HFCaptioner({self.spec!r}, device={str(self.device)!r}, dtype={self.dtype}, loaded={self.loaded})"

    @property
    def loaded(self) -> bool:
        """Whether model and processor are in memory (on any device)."""
        return self._model is not None

    @property
    def default_settings(self) -> CaptionSettings:
        """The settings of a call that passes none (checked again here: the attributes may have been changed)."""
        return CaptionSettings(self.max_tokens, self.num_beams)

    def settings_fingerprint(self, settings: CaptionSettings | None = None) -> str:
        """What determines the captions of a call with `settings` besides the image: a cache key for them."""
        settings = settings or self.default_settings
        # fp16 and fp32 can decode a different token on a near tie, so the dtype is part of the key
        return f"{self.model_id}|{settings.fingerprint()}|dtype={self._target_dtype()}"

    # --- loading -------------------------------------------------------------------------------------------------

    def load(self) -> None:
        """Load model and processor now (`caption()` does it when needed). Raises `CaptionerNotFound` when the
        model is nowhere to be had, `CaptionerError` for any other failure."""
        with self._lock:
            if self.loaded:
                return
            source, hub_kwargs = self._locate()
            dtype = self._target_dtype()
            try:
                self._model, self._processor = self._load_from(source, hub_kwargs, dtype)
            except CaptionerError:
                raise
            except Exception as error:
                raise CaptionerError(
                    f"[DNP] captioner '{self.model_id}' could not be loaded: {error}"
                ) from error
            # from_pretrained loads onto the CPU, already in the target dtype.
            self._placement = (_cpu(), dtype)

    def _locate(self) -> tuple[str, dict[str, Any]]:
        """Where to load from, and the hub arguments for it; raises `CaptionerNotFound` before transformers is
        even imported when the answer is 'nowhere'."""
        folder = local_folder(self.spec)
        if folder is not None:
            return folder, {"local_files_only": True}
        if looks_like_path(self.spec):
            raise CaptionerNotFound(
                f"[DNP] captioner folder '{self.model_id}' does not exist; give a folder that holds a saved model, a "
                "Hugging Face model id, or pick another captioner"
            )
        offline = hub_offline() or not self.allow_download
        if offline and not available_offline(self.model_id):
            reason = "the hub is offline" if hub_offline() else "downloads are turned off"
            raise CaptionerNotFound(
                f"[DNP] captioner '{self.model_id}' is not in the Hugging Face cache and {reason}; "
                + _download_remedy(self.model_id)
            )
        # The cache directory is passed explicitly because huggingface_hub reads HF_HOME only once, at import.
        return self.model_id, {"local_files_only": offline, "cache_dir": hub_cache_dir()}

    def _load_from(self, source: str, hub_kwargs: dict[str, Any], dtype: torch.dtype) -> tuple[Any, Any]:
        import transformers

        try:
            config = transformers.AutoConfig.from_pretrained(source, **hub_kwargs)
        except OSError as error:
            raise CaptionerNotFound(
                f"[DNP] captioner '{self.model_id}' is neither a local folder nor in the Hugging Face cache and "
                f"could not be downloaded ({error}); check the name, or " + _download_remedy(self.model_id)
            ) from error
        model_class = self._model_class(transformers, config.model_type)
        model_kwargs: dict[str, Any] = {**hub_kwargs, _dtype_argument(): dtype}
        if has_safetensors(source):
            model_kwargs["use_safetensors"] = True  # never fall back to a pickle the WebUI would refuse
        model = model_class.from_pretrained(source, config=config, **model_kwargs).eval()
        processor = transformers.AutoProcessor.from_pretrained(source, **hub_kwargs)
        return model, processor

    def _model_class(self, transformers: Any, model_type: str) -> Any:
        names = [_MODEL_CLASSES[model_type]] if model_type in _MODEL_CLASSES else list(_AUTO_CLASSES)
        for name in names:
            model_class = getattr(transformers, name, None)
            if model_class is not None:
                return model_class
        raise CaptionerError(
            f"[DNP] captioner '{self.model_id}' has model type '{model_type}', which transformers "
            f"{transformers.__version__} cannot load as an image-to-text model; pick another captioner"
        )

    # --- placement -----------------------------------------------------------------------------------------------

    def _target_dtype(self) -> torch.dtype:
        import torch

        if self.dtype is not None:
            return self.dtype
        return torch.float16 if torch.device(self.device).type == "cuda" else torch.float32

    def _place(self) -> tuple[torch.device, torch.dtype]:
        """Move the model to `self.device` and the target dtype if it is elsewhere; return where it is."""
        import torch

        target = (torch.device(self.device), self._target_dtype())
        if self._placement != target:
            # Cast only when the dtype changed: a cast undoes the modules that transformers keeps in fp32 on
            # purpose when it loads in fp16 (BLIP-2's Q-Former in 5.x).
            if self._placement is not None and self._placement[1] == target[1]:
                self._model.to(target[0])
            else:
                self._model.to(device=target[0], dtype=target[1])
            self._placement = target
            self._decoder = None  # its buffers and graphs point at the old weights
        return target

    def offload(self) -> None:
        """Move the model to the CPU and keep it loaded (its dtype unchanged); the next caption moves it back."""
        with self._lock:
            if not self.loaded or self._placement is None or self._placement[0].type == "cpu":
                return
            self._model.to("cpu")
            self._placement = (_cpu(), self._placement[1])
            self._decoder = None
            _empty_cuda_cache()

    def unload(self) -> None:
        """Drop the model and processor and give their memory back; the next caption loads them again."""
        with self._lock:
            self._model = None
            self._processor = None
            self._placement = None
            self._decoder = None
            self._fast_failed = False
            gc.collect()
            _empty_cuda_cache()

    # --- captioning ----------------------------------------------------------------------------------------------

    def caption(self, images: Sequence[Image.Image], settings: CaptionSettings | None = None) -> list[str]:
        """One caption per image, in order, from one batched decode of the whole batch; cleaned by
        `clean_caption`."""
        if not images:
            return []
        settings = settings or self.default_settings
        with self._lock:
            self.load()
            try:
                return self._caption_loaded(images, settings)
            except CaptionerError:
                raise
            except Exception as error:
                raise CaptionerError(
                    f"[DNP] captioner '{self.model_id}' failed to caption: {error}"
                ) from error

    def _length_limits(self, settings: CaptionSettings) -> dict[str, int]:
        return {
            "max_new_tokens": settings.max_tokens,
            "min_length": _min_length_within(self._model, settings.max_tokens),
        }

    def _model_inputs(self, images: list[Image.Image]) -> dict[str, Any]:
        """Processor outputs for an unconditional caption, on the CPU.

        BLIP and GIT get images only and build their own start of text ([DEC], [CLS]); text "" would add a [SEP]
        that GIT reads as the end of its prompt. BLIP-2 gets the empty text, so that its processor writes the
        start the installed transformers expects: the tokenizer's own start (OPT's `</s>`) in 4.30, with the
        `num_query_tokens` `<image>` placeholders in front in later versions whose processor knows that number.
        Given images only, transformers 4.46 finds no placeholder to fill and fails; 4.30 and 5.x would build
        the same start themselves.
        """
        if self._model.config.model_type != "blip-2":
            return {"pixel_values": self._processor(images=images, return_tensors="pt")["pixel_values"]}
        inputs = self._processor(images=images, text=[""] * len(images), return_tensors="pt")
        return {
            name: inputs[name] for name in ("pixel_values", "input_ids", "attention_mask") if name in inputs
        }

    def _caption_loaded(self, images: Sequence[Image.Image], settings: CaptionSettings) -> list[str]:
        import torch

        device, dtype = self._place()
        rgb_images = [image if image.mode == "RGB" else image.convert("RGB") for image in images]
        model_inputs = {name: tensor.to(device) for name, tensor in self._model_inputs(rgb_images).items()}
        model_inputs["pixel_values"] = model_inputs["pixel_values"].to(dtype)
        with torch.inference_mode():
            sequences = self._fast_sequences(model_inputs, device, settings)
            if sequences is None:
                sequences = self._model.generate(
                    **model_inputs,
                    **self._length_limits(settings),
                    num_beams=settings.num_beams,
                    do_sample=False,
                )
        # Prompt tokens that some versions echo back (BLIP-2's <image> placeholders, bos) are special tokens.
        texts = self._processor.tokenizer.batch_decode(sequences, skip_special_tokens=True)
        if len(texts) != len(images):
            raise CaptionerError(
                f"[DNP] captioner '{self.model_id}' returned {len(texts)} captions for {len(images)} images"
            )
        return [clean_caption(text) for text in texts]

    def _fast_sequences(
        self, model_inputs: dict[str, Any], device: torch.device, settings: CaptionSettings
    ) -> Any:
        """Greedy sequences from the fast decoder, or None where it does not apply (then `generate` runs)."""
        from lib_dnp.captioners import decode

        use_graph = device.type == "cuda"
        wanted = self.fast_decode if self.fast_decode is not None else use_graph
        if not wanted or self._fast_failed or set(model_inputs) != {"pixel_values"}:
            return None
        if not decode.supports(self._model, settings.num_beams, settings.max_tokens):
            return None
        try:
            if self._decoder is None or self._decoder.max_tokens != settings.max_tokens:
                self._decoder = decode.BlipDecoder(self._model, settings.max_tokens, use_graph=use_graph)
            return self._decoder.decode(model_inputs["pixel_values"])
        except Exception as error:  # a slower caption beats none: keep `generate` for this model from now on
            log.warning("[DNP] fast caption decoding failed, using generate from now on: %s", error)
            self._fast_failed, self._decoder = True, None
            return None

    # --- candidates for CLIP re-ranking ----------------------------------------------------------------------------

    def caption_candidates(
        self, images: Sequence[Image.Image], count: int, settings: CaptionSettings | None = None
    ) -> list[list[str]]:
        """Up to `count` candidate captions per image, best first: the `count` best beams of one beam search
        (width `max(num_beams, count)`), cleaned, empty and duplicate ones dropped (so an image may get fewer).
        The first candidate is the caption that beam search at that width gives."""
        if not images:
            return []
        check_positive("count", count)
        settings = settings or self.default_settings
        with self._lock:
            self.load()
            try:
                texts = self._candidate_texts(images, count, settings)
            except Exception as error:
                raise CaptionerError(
                    f"[DNP] captioner '{self.model_id}' failed to propose captions: {error}"
                ) from error
        if len(texts) != len(images) * count:
            raise CaptionerError(
                f"[DNP] captioner '{self.model_id}' returned {len(texts)} candidates for {len(images)} images "
                f"× {count}"
            )
        groups = [
            [clean_caption(text) for text in texts[i * count : (i + 1) * count]] for i in range(len(images))
        ]
        return [list(dict.fromkeys(text for text in group if text)) or group[:1] for group in groups]

    def _candidate_texts(
        self, images: Sequence[Image.Image], count: int, settings: CaptionSettings
    ) -> list[str]:
        import torch

        device, dtype = self._place()
        rgb_images = [image if image.mode == "RGB" else image.convert("RGB") for image in images]
        model_inputs = {name: tensor.to(device) for name, tensor in self._model_inputs(rgb_images).items()}
        model_inputs["pixel_values"] = model_inputs["pixel_values"].to(dtype)
        with torch.inference_mode():
            sequences = self._model.generate(
                **model_inputs,
                **self._length_limits(settings),
                num_beams=max(settings.num_beams, count),
                num_return_sequences=count,
                do_sample=False,
            )
        # generate returns the `count` sequences of each image one after another, best first.
        return self._processor.tokenizer.batch_decode(sequences, skip_special_tokens=True)


def _min_length_within(model: Any, max_tokens: int) -> int:
    """The model's own caption floor (`generation_config.min_length`, which counts the start token), lowered to
    the cap the request asks for: transformers 4.4x refuses a floor above `max_length` instead of capping it."""
    config = getattr(model, "generation_config", None)
    return min(int(getattr(config, "min_length", 0) or 0), max_tokens)


def _cpu() -> torch.device:
    import torch

    return torch.device("cpu")


def _empty_cuda_cache() -> None:
    torch = sys.modules.get("torch")  # nothing to give back if torch was never imported
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
