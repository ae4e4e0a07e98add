"""The Gemma-3 text encoder as three plain-tensor parts whose parameters are inputs: pre, layer, post.

pre embeds the tokens and builds what every layer needs (the two static attention masks of
text_graphs.static_attention_masks and transformers' own global and local RoPE tables); block runs
one transformers Gemma3DecoderLayer on (hidden states, its mask, its RoPE table), and all layers
share that graph: the runtime binds layer i's weights and, for sliding-window layers, the sliding
mask and the local table; post is the final norm. Chained (runtime/chain.py TextChain) they return
every hidden state GemmaTextEncoder.encode returns, as the text encoder graph did. Weights enter as
inputs for the reasons of model/transformer_parts.py: a 12B engine does not build in 24 GB of RAM.
Imports torch and transformers; of ltx_trt, imports core only.
"""

import contextlib
from pathlib import Path
from typing import Callable

import torch

from ltx_trt.core.plan import Graph
from ltx_trt.core.shapes import CONTEXT_TOKENS, WEIGHT_PREFIX, ChainWeights
from ltx_trt.model.gemma import gemma_state, text_encoder_skeleton
from ltx_trt.model.graph_modules import ComponentModel, PartGraph
from ltx_trt.model.quant_linear import quantized_block
from ltx_trt.model.quantized_weights import example_reader
from ltx_trt.model.text_graphs import random_prompt, static_attention_masks

LM = "model.model.language_model."  # the language model inside ltx-core's GemmaTextEncoder


def language_model(encoder: torch.nn.Module) -> torch.nn.Module:
    return encoder.model.model.language_model


def weight_layout(encoder: torch.nn.Module) -> tuple[ChainWeights, tuple[int, ...]]:
    """The language model's parameters by part, and the indices of its sliding-window layers."""
    lm = language_model(encoder)
    layers = list(lm.layers)
    block = tuple((n, tuple(p.shape)) for n, p in layers[0].named_parameters())
    for i, layer in enumerate(layers):
        if tuple((n, tuple(p.shape)) for n, p in layer.named_parameters()) != block:
            raise ValueError(f"Gemma layer {i} differs from layer 0: layers cannot share one graph")
    pre = (("embed_tokens.weight", tuple(lm.embed_tokens.weight.shape)),)
    post = tuple((f"norm.{n}", tuple(p.shape)) for n, p in lm.norm.named_parameters())
    sliding = tuple(i for i, layer in enumerate(layers) if layer.attention_type == "sliding_attention")
    return ChainWeights(len(layers), pre, block, post), sliding


def layout_from_folder(folder: Path | dict) -> tuple[ChainWeights, tuple[int, ...]]:
    """weight_layout of the Gemma-3 a folder (or a config.json dict) describes; no weight is read."""
    return weight_layout(text_encoder_skeleton(folder, torch.bfloat16))


class _Pre(torch.nn.Module):
    def __init__(self, lm: torch.nn.Module) -> None:
        super().__init__()
        self.lm = lm

    def forward(self, input_ids, attention_mask):
        lm = self.lm
        hidden = lm.embed_tokens(input_ids)
        masks = static_attention_masks(attention_mask, lm.config.sliding_window, hidden.dtype)
        positions = torch.arange(input_ids.shape[-1], device=input_ids.device).unsqueeze(0)
        global_rope, local_rope = lm.rotary_emb(hidden, positions), lm.rotary_emb_local(hidden, positions)
        return (hidden, masks["full_attention"], masks["sliding_attention"], *global_rope, *local_rope)


class _Layer(torch.nn.Module):
    def __init__(self, layer: torch.nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, hidden, mask, cos, sin):
        # the layer picks the global or the local table by its type: it gets the one the runtime bound
        return self.layer(hidden, position_embeddings_global=(cos, sin), position_embeddings_local=(cos, sin),
                          attention_mask=mask)[0]


class _Post(torch.nn.Module):
    def __init__(self, lm: torch.nn.Module) -> None:
        super().__init__()
        self.lm = lm

    def forward(self, hidden):
        return self.lm.norm(hidden)


def part_of(graph: Graph) -> str:
    return graph.variant


def wrap_part(encoder: torch.nn.Module, graph: Graph) -> PartGraph:
    """The PartGraph of a physical text encoder graph (variant `pre`, `block` or `post`)."""
    lm, part = language_model(encoder), part_of(graph)
    names = [s.name[len(WEIGHT_PREFIX):] for s in graph.inputs if s.name.startswith(WEIGHT_PREFIX)]
    if part.startswith("block"):
        layer = lm.layers[0]
        if part != "block":  # its Linears quantized: a copy of the skeleton layer with QuantLinears
            layer = quantized_block(layer, graph.weights.quantization)
        return PartGraph(_Layer(layer), layer, names).eval()
    return PartGraph(_Pre(lm) if part == "pre" else _Post(lm), lm, names).eval()


def part_parameters(encoder: torch.nn.Module, part: str, layer: int = 0) -> dict[str, torch.Tensor]:
    lm = language_model(encoder)
    if part.startswith("block"):
        return dict(lm.layers[layer].named_parameters())
    if part == "pre":
        return {"embed_tokens.weight": lm.embed_tokens.weight}
    return {f"norm.{n}": p for n, p in lm.norm.named_parameters()}


def example_inputs(encoder: torch.nn.Module, graph: Graph, seed: int) -> list[torch.Tensor]:
    """pre: a random left-padded prompt; block/post: random activations, the pre part's real masks and
    tables for a random prompt; weights: the encoder's own (layer 0 for the block)."""
    generator = torch.Generator().manual_seed(seed)
    ids, mask = random_prompt(encoder, CONTEXT_TOKENS, seed)
    dtype = language_model(encoder).embed_tokens.weight.dtype
    weight = example_reader(model_reader(encoder), graph.weights, dtype)
    with torch.no_grad():
        _, full, _, cos, sin, _, _ = _Pre(language_model(encoder))(ids, mask)
    known = {"input_ids": ids, "attention_mask": mask, "layer_attention_mask": full, "layer_rope_cos": cos,
             "layer_rope_sin": sin}
    out = []
    for spec in graph.inputs:
        if spec.name.startswith(WEIGHT_PREFIX):
            out.append(weight(part_of(graph), 0, spec.name[len(WEIGHT_PREFIX):]).detach())
        elif spec.name in known:
            out.append(known[spec.name])
        else:
            out.append(torch.randn(spec.shape, generator=generator).to(dtype))
    return out


def folder_reader(files, dtype: torch.dtype) -> Callable[[str, int, str], torch.Tensor]:
    """(part, layer, name) -> the parameter, memory-mapped from the Gemma folder's shards (files: ModelFiles)."""
    state = gemma_state(files.gemma_shards, files.source.gemma, dtype)

    def read(part: str, layer: int, name: str) -> torch.Tensor:
        return state[LM + (f"layers.{layer}.{name}" if part.startswith("block") else name)]

    return read


def model_reader(encoder: torch.nn.Module) -> Callable[[str, int, str], torch.Tensor]:
    """(part, layer, name) -> the parameter of a loaded encoder (tests)."""
    return lambda part, layer, name: part_parameters(encoder, part, layer)[name]


def build(files, dtype: torch.dtype):
    """The text encoder with its weights (export: the parts' example inputs read them)."""
    from ltx_trt.model.gemma import build_text_encoder

    return build_text_encoder(files, dtype)


COMPONENTS = {"text_encoder": ComponentModel(build, wrap_part, contextlib.nullcontext, example_inputs,
                                             lambda files, dtype: text_encoder_skeleton(files.source.gemma, dtype))}
