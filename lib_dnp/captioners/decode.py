"""A fast greedy decoder for BLIP captioners: a static KV cache and, on CUDA, one CUDA graph per decode step.

Captioning is latency-bound: `generate` spends each of its ~30 steps launching a few hundred small kernels and
running Python around them (0.25-0.4 s for BLIP-large on an H100). This decoder runs the same arithmetic through
the model's own modules (embeddings, projections, layer norms, feed-forward, LM head) and only writes the
attention itself, over key/value buffers of fixed length; the cross-attention keys and values of the image are
computed once, not at every step. With every shape fixed, one decode step can be captured as a CUDA graph and
replayed, so a token costs one launch. Greedy argmax picks the same tokens as `generate(num_beams=1,
do_sample=False)`; tests compare the two.

`greedy_decoder(model, device, num_beams)` says whether this applies (BLIP, greedy, no logits processors in
the generation config); anything else keeps `generate`. The decoder reads modules by their names, which are the
same in transformers 4.30 and 5.x.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

log = logging.getLogger("lib_dnp")

# Generation-config fields whose default leaves greedy decoding alone; any other value makes `generate` run a
# logits processor this decoder does not have, so `generate` is used instead.
_NEUTRAL_SETTINGS: dict[str, tuple[Any, ...]] = {
    "repetition_penalty": (None, 1.0),
    "encoder_repetition_penalty": (None, 1.0),
    "no_repeat_ngram_size": (None, 0),
    "encoder_no_repeat_ngram_size": (None, 0),
    "min_length": (None, 0),
    "min_new_tokens": (None, 0),
    "bad_words_ids": (None,),
    "suppress_tokens": (None,),
    "begin_suppress_tokens": (None,),
    "forced_bos_token_id": (None,),
    "forced_eos_token_id": (None,),
    "forced_decoder_ids": (None,),
    "sequence_bias": (None,),
    "exponential_decay_length_penalty": (None,),
    "diversity_penalty": (None, 0.0),
}


def neutral_generation_config(config: Any) -> bool:
    """Whether greedy `generate` with this generation config is plain argmax decoding."""
    return all(getattr(config, name, None) in values for name, values in _NEUTRAL_SETTINGS.items())


@dataclass(frozen=True)
class _Tokens:
    start: int  # the first input token (BLIP's [DEC])
    end: int  # generation stops at it ([SEP])
    pad: int  # written after `end`, as `generate` does


def supports(model: Any, num_beams: int, max_tokens: int) -> bool:
    """Whether `BlipDecoder` decodes exactly as this model's greedy `generate` would."""
    config = getattr(model, "config", None)
    if getattr(config, "model_type", None) != "blip" or num_beams != 1:
        return False
    decoder = getattr(model, "text_decoder", None)
    text = config.text_config
    if decoder is None or getattr(text, "position_embedding_type", "absolute") != "absolute":
        return False
    if None in (text.bos_token_id, text.sep_token_id, text.pad_token_id):
        return False
    if max_tokens > text.max_position_embeddings:
        return False
    return neutral_generation_config(getattr(decoder, "generation_config", None))


class BlipDecoder:
    """Greedy BLIP decoding over a static KV cache; `use_graph` captures each step as a CUDA graph.

    A decoder holds buffers on the model's device: make a new one whenever the model moves (`HFCaptioner` drops it
    on every move). Graphs are captured per batch size and kept; `max_tokens` is fixed per decoder.
    """

    def __init__(self, model: Any, max_tokens: int, use_graph: bool):
        self.model = model
        self.max_tokens = max_tokens
        self.use_graph = use_graph
        text = model.config.text_config
        self.tokens = _Tokens(text.bos_token_id, text.sep_token_id, text.pad_token_id)
        if max_tokens > text.max_position_embeddings:
            raise ValueError(
                f"[DNP] max_tokens {max_tokens} exceeds the captioner's {text.max_position_embeddings} positions"
            )
        self.bert = model.text_decoder.bert
        self.layers = list(self.bert.encoder.layer)
        self.heads = self.layers[0].attention.self.num_attention_heads
        self.head_size = self.layers[0].attention.self.attention_head_size
        self._graphs: dict[tuple[int, int], _GraphStep] = {}

    def decode(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Token sequences as greedy `model.generate(pixel_values, ...)` returns them: the start token, the
        caption, `end`, then `pad` up to the longest caption of the batch."""
        image_embeds = self.model.vision_model(pixel_values=pixel_values)[0]
        state = _State.create(self, image_embeds)
        if self.use_graph:
            return self._finish(self._run_graph(state))
        for _ in range(self.max_tokens):
            self.step(state)
            if self.max_tokens > 8 and int(state.step) % 8 == 0 and self._all_ended(state):
                break
        return self._finish(state.out[:, : int(state.step)])

    def _run_graph(self, state: _State) -> torch.Tensor:
        key = tuple(state.cross_keys[0].shape[:3])
        graph = self._graphs.get(key)
        if graph is None:
            graph = self._graphs[key] = _GraphStep(self, state)
        graph.load(state)
        done = 0
        while done < self.max_tokens:
            burst = min(8, self.max_tokens - done)
            for _ in range(burst):
                graph.graph.replay()
            done += burst
            if self._all_ended(graph.state, done):
                break
        return graph.state.out[:, :done].clone()

    def _all_ended(self, state: _State, done: int | None = None) -> bool:
        done = int(state.step) if done is None else done
        return bool((state.out[:, :done] == self.tokens.end).any(dim=1).all())

    def _finish(self, generated: torch.Tensor) -> torch.Tensor:
        """Prepend the start token, cut after the step where every row has ended, pad each row after its end."""
        import torch

        ended = (generated == self.tokens.end).int().cumsum(dim=1)
        after_end = (ended - (generated == self.tokens.end).int()) > 0
        generated = generated.masked_fill(after_end, self.tokens.pad)
        first_end = torch.where(ended[:, -1] > 0, (ended == 0).sum(dim=1) + 1, generated.shape[1])
        length = int(first_end.max())
        start = torch.full_like(generated[:, :1], self.tokens.start)
        return torch.cat([start, generated[:, :length]], dim=1)

    # --- one decode step, the same whether eager or captured ---------------------------------------------------

    def step(self, state: _State) -> None:
        """Feed `state.token` at position `state.step`, write the argmax into `state.token` and `state.out`."""
        import torch

        embeddings = self.bert.embeddings
        hidden = embeddings.word_embeddings(state.token[:, None])
        hidden += embeddings.position_embeddings(state.step[None, None].expand(hidden.shape[0], 1))
        hidden = embeddings.LayerNorm(hidden)
        # Positions not yet written stay out of the softmax: the mask adds the dtype's minimum, as BLIP's does.
        visible = state.positions <= state.step
        mask = torch.where(visible, state.zero, state.minimum)
        for index, layer in enumerate(self.layers):
            attention = layer.attention
            query, key, value = (
                self._heads(projection(hidden))
                for projection in (attention.self.query, attention.self.key, attention.self.value)
            )
            state.self_keys[index].index_copy_(2, state.step[None], key)
            state.self_values[index].index_copy_(2, state.step[None], value)
            context = self._attend(query, state.self_keys[index], state.self_values[index], mask)
            hidden = attention.output(context, hidden)
            cross = layer.crossattention
            query = self._heads(cross.self.query(hidden))
            context = self._attend(query, state.cross_keys[index], state.cross_values[index], None)
            hidden = cross.output(context, hidden)
            hidden = layer.output(layer.intermediate(hidden), hidden)
        logits = self.model.text_decoder.cls(hidden)[:, -1, :]
        token = logits.argmax(dim=-1)
        state.token.copy_(token)
        state.out.index_copy_(1, state.step[None], token[:, None])
        state.step += 1

    def _heads(self, states: torch.Tensor) -> torch.Tensor:
        return states.view(*states.shape[:-1], self.heads, self.head_size).transpose(1, 2)

    def _attend(
        self, query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        """BLIP's eager attention, in its order of operations (scores, scale, mask, softmax, weighted sum)."""
        import torch

        scores = torch.matmul(query, keys.transpose(-1, -2)) / math.sqrt(self.head_size)
        if mask is not None:
            scores = scores + mask
        context = torch.matmul(torch.softmax(scores, dim=-1), values)
        context = context.permute(0, 2, 1, 3).contiguous()
        return context.view(*context.shape[:-2], self.heads * self.head_size)


@dataclass
class _State:
    """Everything one decode touches, in fixed-shape tensors (so a CUDA graph can hold on to them)."""

    token: torch.Tensor  # (batch,) the next input token
    step: torch.Tensor  # () its position
    out: torch.Tensor  # (batch, max_tokens) generated tokens
    positions: torch.Tensor  # (max_tokens,) 0 .. max_tokens - 1
    zero: torch.Tensor
    minimum: torch.Tensor
    self_keys: list[torch.Tensor]  # per layer (batch, heads, max_tokens, head_size)
    self_values: list[torch.Tensor]
    cross_keys: list[torch.Tensor]  # per layer (batch, heads, image tokens, head_size)
    cross_values: list[torch.Tensor]

    @classmethod
    def create(cls, decoder: BlipDecoder, image_embeds: torch.Tensor) -> _State:
        import torch

        batch, device = image_embeds.shape[0], image_embeds.device
        dtype = decoder.bert.embeddings.word_embeddings.weight.dtype
        cache_shape = (batch, decoder.heads, decoder.max_tokens, decoder.head_size)
        cross = [layer.crossattention.self for layer in decoder.layers]
        return cls(
            token=torch.full((batch,), decoder.tokens.start, dtype=torch.long, device=device),
            step=torch.zeros((), dtype=torch.long, device=device),
            out=torch.full((batch, decoder.max_tokens), decoder.tokens.pad, dtype=torch.long, device=device),
            positions=torch.arange(decoder.max_tokens, device=device),
            zero=torch.zeros((), dtype=dtype, device=device),
            minimum=torch.tensor(torch.finfo(dtype).min, dtype=dtype, device=device),
            self_keys=[torch.zeros(cache_shape, dtype=dtype, device=device) for _ in decoder.layers],
            self_values=[torch.zeros(cache_shape, dtype=dtype, device=device) for _ in decoder.layers],
            cross_keys=[decoder._heads(attention.key(image_embeds)) for attention in cross],
            cross_values=[decoder._heads(attention.value(image_embeds)) for attention in cross],
        )

    def copy_from(self, other: _State) -> None:
        """Load another decode's inputs into these buffers (the graph reads these)."""
        self.token.copy_(other.token)
        self.step.zero_()
        self.out.copy_(other.out)
        for mine, theirs in zip(self.cross_keys + self.cross_values, other.cross_keys + other.cross_values):
            mine.copy_(theirs)
        for buffer in self.self_keys + self.self_values:
            buffer.zero_()


class _GraphStep:
    """One decode step captured as a CUDA graph over its own `_State` buffers."""

    def __init__(self, decoder: BlipDecoder, example: _State):
        import torch

        self.state = _clone(example)
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(2):  # warm-up outside the graph: cuBLAS picks its kernels and workspaces here
                decoder.step(self.state)
        torch.cuda.current_stream().wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph, capture_error_mode="thread_local"):  # other threads may use CUDA
            decoder.step(self.state)

    def load(self, state: _State) -> None:
        self.state.copy_from(state)


def _clone(state: _State) -> _State:
    return _State(**{
        name: [tensor.clone() for tensor in value] if isinstance(value, list) else value.clone()
        for name, value in vars(state).items()
    })  # fmt: skip
