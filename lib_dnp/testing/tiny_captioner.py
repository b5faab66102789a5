"""Tiny random-weight captioners for tests: real transformers classes, a few hundred kB, built offline.

Each builder writes a folder that `from_pretrained` (and so `HFCaptioner`) loads like a hub model: config, weights
as safetensors (the WebUI's safe-unpickle check rejects pytorch_model.bin), and a processor whose tokenizer is made
here from a hand-written vocabulary, so nothing is downloaded. A folder loads only in the transformers version that
wrote it; the WebUI tests therefore build theirs with the WebUI's own python:

    python -m lib_dnp.testing.tiny_captioner --kind blip OUT_DIR

Weights are random but seeded, so a folder built twice captions the same. A model straight from its config
ignores the image (its image path starts near zero), so the image side is redrawn with a large spread; see
`_redraw_image_path`.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

IMAGE_SIZE = 32
SEED = 1234
IMAGE_PATH_STD = 0.3

_WORD_TEXT = """
a an the and with on in of at by near under over behind next to from into for
man woman boy girl child person people dog dogs cat cats horse bird birds cow sheep elephant giraffe zebra bear
car truck bus train boat plane bike motorcycle street road city building house tower bridge window door wall
room kitchen table chair bed couch desk lamp clock tv computer phone book cup bowl plate bottle glass pizza cake
sandwich banana apple orange flowers tree trees grass field beach ocean water river lake sky clouds snow mountain
hill park sign fence bench umbrella kite ball frisbee skateboard surfboard skis shirt hat dress jacket
red blue green yellow white black brown pink purple orange gray large small big little old young tall short
sitting standing walking running riding holding eating playing looking flying lying parked wearing
two three several many some group picture photo view close up blurry dark bright empty full top side front back
is are it there that this his her their its very while together other one
"""
# Words of real BLIP-large captions that the CLIP tokenizer splits into two or three tokens ("skateboarder" ->
# "skate", "boarder"), so CLIP-token lengths exceed word counts as they do for real captions.
_LONG_WORD_TEXT = """
skateboarder motorcyclist multicolored checkered cobblestone paddleboard bespectacled snowboarder wetsuit surfboard
giraffes skyscraper countertop windowsill nightstand sailboat zebras parasailing kiteboarder barbed streetlight
bathrobe eyeglasses crosswalk stoplight racquet bleachers hydrant
"""
_BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_OPT_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]
_IMAGE_TOKEN = "<image>"
_SPACE = "\u0120"  # byte-level BPE's stand-in for a leading space ("Ġ")


def _vision_config() -> dict[str, Any]:
    return {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
            "image_size": IMAGE_SIZE, "patch_size": 8}  # fmt: skip


def _unique_words(text: str = _WORD_TEXT) -> list[str]:
    return list(dict.fromkeys(text.split()))


def _write_bert_vocab(folder: str, extra_specials: Iterable[str], words: Iterable[str] | None = None) -> None:
    tokens = [*_BERT_SPECIALS, *extra_specials, *".,'", *(_unique_words() if words is None else words)]
    with open(os.path.join(folder, "vocab.txt"), "w", encoding="utf-8") as file:
        file.write("\n".join(tokens) + "\n")


def _write_bpe_vocab(folder: str) -> None:
    """A byte-level BPE (GPT-2 / OPT format) that spells each word of `_WORD_TEXT`, with or without a leading space,
    by merging it letter by letter from the left. Letters outside the words fall back to `<unk>`, which is all a
    tiny test model needs."""
    vocab: dict[str, int] = {}
    merges: list[str] = []

    def add(token: str) -> None:
        vocab.setdefault(token, len(vocab))

    for token in [*_OPT_SPECIALS, _IMAGE_TOKEN, _SPACE, *".,'", *"abcdefghijklmnopqrstuvwxyz"]:
        add(token)
    # Shorter prefixes first: BPE applies the lowest-ranked merge first, so "Ġc"+"a" must rank before "Ġca"+"t".
    spellings = [prefix + word for word in _unique_words() for prefix in (_SPACE, "")]
    for length in range(2, max(map(len, spellings)) + 1):
        for spelling in spellings:
            if len(spelling) >= length and spelling[:length] not in vocab:
                merges.append(f"{spelling[: length - 1]} {spelling[length - 1]}")
                add(spelling[:length])
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as file:
        json.dump(vocab, file, ensure_ascii=False)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as file:
        file.write("#version: 0.2\n" + "\n".join(merges) + "\n")


def _make_tokenizer(tokenizer_class: type, writer: Callable[[str], None], **special_tokens: Any) -> Any:
    # from_pretrained reads vocabulary files in every transformers version; the constructors' file arguments
    # were renamed in 5.x (vocab_file -> vocab).
    with tempfile.TemporaryDirectory() as folder:
        writer(folder)
        return tokenizer_class.from_pretrained(folder, **special_tokens)


def _redraw_image_path(model: torch.nn.Module, prefixes: tuple[str, ...], keywords: tuple[str, ...]) -> None:
    """Redraw the weights of every module named with one of `prefixes` or containing one of `keywords`: normal
    with std `IMAGE_PATH_STD`, LayerNorms reset to weight 1, bias 0. With the config's std of 0.02 the image
    features vanish on their way to the text and every image gets the same caption."""
    import torch

    generator = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for name, module in model.named_modules():
            if not (name.startswith(prefixes) or any(keyword in name for keyword in keywords)):
                continue
            for parameter_name, parameter in module.named_parameters(recurse=False):
                if isinstance(module, torch.nn.LayerNorm):
                    parameter.fill_(1.0 if parameter_name == "weight" else 0.0)
                else:
                    parameter.copy_(torch.randn(parameter.shape, generator=generator) * IMAGE_PATH_STD)
        # Modules can own parameters directly (BLIP-2's query tokens); named_modules covers them via the root.
        for name, parameter in model.named_parameters(recurse=False):
            if name.startswith(prefixes):
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * IMAGE_PATH_STD)


def _seeded_model(model_class: type, config: Any) -> Any:
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        return model_class(config).eval()


def _save(model: Any, processor: Any, out_dir: str) -> str:
    os.makedirs(out_dir, exist_ok=True)
    # transformers 4.x writes pickles unless told; 5.x writes only safetensors and dropped the argument.
    save_kwargs = (
        {"safe_serialization": True}
        if "safe_serialization" in inspect.signature(model.save_pretrained).parameters
        else {}
    )
    model.save_pretrained(out_dir, **save_kwargs)
    processor.save_pretrained(out_dir)
    return out_dir


def build_tiny_blip(out_dir: str) -> str:
    """A BLIP captioner (BlipForConditionalGeneration) with a BertTokenizer whose bos is `[DEC]`, like BLIP's."""
    return _build_blip(out_dir, _unique_words(), generation={})


# Real BLIP-large captions of DNS images run about 8-40 CLIP tokens. Random weights stop at the first token or
# not at all, and greedy decoding loops ("elephant and elephant and ..."), which `clean_caption` collapses.
# So this variant stops no earlier than 9 words, never repeats a word pair (HF generate's own MinLength and
# NoRepeatNGram processors, set in the decoder's config as any hub model may), and lets the model decide the end
# after that: the [SEP] logit gets a bias that makes it win at a step that depends on the image. Measured on 32
# noise images through HFCaptioner (transformers 4.30.2): 9-30 words, 9-41 CLIP tokens, median 27.
_REAL_LENGTHS = {"min_length": 10, "no_repeat_ngram_size": 2}  # min_length counts the [DEC] start token
_REAL_LENGTHS_WORD_STD = 0.1  # word embeddings larger than the config's 0.02: the last word matters less
_REAL_LENGTHS_END_BIAS = 0.15


def build_tiny_blip_real_lengths(out_dir: str) -> str:
    """A tiny BLIP captioner whose captions have the CLIP-token lengths of real BLIP-large captions, per image."""
    return _build_blip(out_dir, _unique_words(_WORD_TEXT + _LONG_WORD_TEXT), generation=_REAL_LENGTHS,
                       word_std=_REAL_LENGTHS_WORD_STD, end_bias=_REAL_LENGTHS_END_BIAS)  # fmt: skip


def _build_blip(
    out_dir: str,
    words: list[str],
    generation: dict[str, Any],
    word_std: float | None = None,
    end_bias: float = 0.0,
) -> str:
    import torch
    from transformers import (
        BertTokenizer,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
    )

    tokenizer = _make_tokenizer(
        BertTokenizer, lambda folder: _write_bert_vocab(folder, ["[DEC]"], words), bos_token="[DEC]"
    )
    ids = tokenizer.convert_tokens_to_ids
    text_config = {
        "vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "max_position_embeddings": 64, "encoder_hidden_size": 32,
        "bos_token_id": ids("[DEC]"), "eos_token_id": ids("[SEP]"), "sep_token_id": ids("[SEP]"),
        "pad_token_id": ids("[PAD]"), **generation,
    }  # fmt: skip
    config = BlipConfig(text_config=text_config, vision_config=_vision_config(), projection_dim=32,
                        image_text_hidden_size=32)  # fmt: skip
    model = _seeded_model(BlipForConditionalGeneration, config)
    _redraw_image_path(model, ("vision_model",), ("crossattention",))
    decoder = model.text_decoder
    with torch.no_grad():
        if word_std is not None:  # tied: the LM head's rows change with them
            embeddings = decoder.bert.embeddings.word_embeddings.weight
            generator = torch.Generator().manual_seed(SEED + 1)
            embeddings.copy_(torch.randn(embeddings.shape, generator=generator) * word_std)
        decoder.cls.predictions.bias[ids("[SEP]")] += end_bias
    image_processor = BlipImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    return _save(model, BlipProcessor(image_processor, tokenizer), out_dir)


def build_tiny_blip2(out_dir: str) -> str:
    """A BLIP-2 captioner with an OPT language model and a byte-level BPE tokenizer, like blip2-opt-2.7b.

    transformers > 4.46 puts `num_query_tokens` image placeholder tokens (`<image>`) in front of the text; the
    placeholder is in the vocabulary and the config names it, which older versions ignore.
    """
    from transformers import (
        Blip2Config,
        Blip2ForConditionalGeneration,
        Blip2Processor,
        BlipImageProcessor,
        GPT2Tokenizer,
    )

    num_query_tokens = 4
    tokenizer = _make_tokenizer(
        GPT2Tokenizer, _write_bpe_vocab, bos_token="</s>",
        add_bos_token=True,  # OPT's tokenizer starts every text with </s> eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
        additional_special_tokens=[_IMAGE_TOKEN],
    )  # fmt: skip
    ids = tokenizer.convert_tokens_to_ids
    text_config = {
        "model_type": "opt", "vocab_size": len(tokenizer), "hidden_size": 32, "ffn_dim": 64,
        "num_hidden_layers": 2, "num_attention_heads": 4, "word_embed_proj_dim": 32, "max_position_embeddings": 64,
        "bos_token_id": ids("</s>"), "eos_token_id": ids("</s>"), "pad_token_id": ids("<pad>"),
    }  # fmt: skip
    qformer_config = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                      "encoder_hidden_size": 32, "vocab_size": 64}  # fmt: skip
    config = Blip2Config(
        vision_config=_vision_config(), qformer_config=qformer_config, text_config=text_config,
        num_query_tokens=num_query_tokens, image_token_index=ids(_IMAGE_TOKEN),
    )  # fmt: skip
    model = _seeded_model(Blip2ForConditionalGeneration, config)
    _redraw_image_path(
        model, ("vision_model", "qformer", "language_projection", "query_tokens"), ("self_attn",)
    )
    image_processor = BlipImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    processor_kwargs = {}
    if "num_query_tokens" in inspect.signature(Blip2Processor.__init__).parameters:
        processor_kwargs["num_query_tokens"] = num_query_tokens
    return _save(model, Blip2Processor(image_processor, tokenizer, **processor_kwargs), out_dir)


def build_tiny_git(out_dir: str) -> str:
    """A GIT captioner (GitForCausalLM) with a CLIP image processor and a BertTokenizer, like git-large-coco."""
    from transformers import BertTokenizer, CLIPImageProcessor, GitConfig, GitForCausalLM, GitProcessor

    tokenizer = _make_tokenizer(BertTokenizer, lambda folder: _write_bert_vocab(folder, []))
    ids = tokenizer.convert_tokens_to_ids
    config = GitConfig(
        vision_config=_vision_config(), vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
        num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=64,
        bos_token_id=ids("[CLS]"), eos_token_id=ids("[SEP]"), pad_token_id=ids("[PAD]"),
    )  # fmt: skip
    model = _seeded_model(GitForCausalLM, config)
    _redraw_image_path(model, ("git.image_encoder", "git.visual_projection"), ("attention",))
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    )
    return _save(model, GitProcessor(image_processor, tokenizer), out_dir)


BUILDERS: dict[str, Callable[[str], str]] = {
    "blip": build_tiny_blip,
    "blip-real-lengths": build_tiny_blip_real_lengths,
    "blip2": build_tiny_blip2,
    "git": build_tiny_git,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build a tiny random-weight captioner folder for tests.")
    parser.add_argument("--kind", choices=sorted(BUILDERS), required=True)
    parser.add_argument("out_dir")
    args = parser.parse_args(argv)
    print(BUILDERS[args.kind](args.out_dir))


if __name__ == "__main__":
    main()
