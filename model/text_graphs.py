"""The text path's pieces: the static attention masks and example prompts of the text encoder (whose
parts are model/text_parts.py), and the connector graph: hidden states -> video/audio contexts through
ltx-core's text projection and connectors.

The text encoder's masks are built here from static ops (transformers' mask code exports as NonZero).
Export-only overrides of the connector: the register fill as a static
gather (ltx-core's uses boolean indexing), the out-of-place split RoPE and the no-op squeeze shim
shared with the transformer. Imports torch, transformers and ltx-core; of ltx_trt, imports core only.
"""

import contextlib

import torch
from ltx_core.model.transformer import rope as ltx_rope
from ltx_core.model.transformer.attention import Attention, AttentionFunction
from ltx_core.text_encoders.gemma.embeddings_connector import Embeddings1DConnector

from ltx_trt.core.dtypes import torch_dtype
from ltx_trt.core.plan import Graph
from ltx_trt.model import components
from ltx_trt.model.gemma_tokenizer import BOS_ID, PAD_ID
from ltx_trt.model.graph_modules import ComponentModel
from ltx_trt.model.loading import KEY_MAPS, key_mapping
from ltx_trt.model.transformer_graph import NoopSqueezeMode, apply_split_rotary_emb_out_of_place
from ltx_trt.model.weight_inputs import weights_as_inputs, with_weight_examples
from ltx_trt.model.weights import assign_from_file, parameters_on_meta


def left_padded_mask(length: int, valid: int) -> torch.Tensor:
    """(1, length) int64: zeros then `valid` ones, as ltx-core's tokenizer pads (left)."""
    return (torch.arange(length) >= length - valid).to(torch.int64).unsqueeze(0)


# --- text_encoder ---------------------------------------------------------------------------------------


def static_attention_masks(attention_mask: torch.Tensor, sliding_window: int, dtype: torch.dtype) -> dict:
    """Replaces transformers' create_causal_mask / create_sliding_window_causal_mask for a padded prompt.

    attention_mask (B, L) int64 -> {"full_attention", "sliding_attention"}: additive (B, 1, L, L) masks in
    `dtype`, 0 where query q may attend key k (k <= q, k not padding, and for sliding layers
    k > q - sliding_window), finfo(dtype).min elsewhere: transformers' eager masks, from static ops.
    """
    position = torch.arange(attention_mask.shape[-1], device=attention_mask.device)
    query, key = position[:, None], position[None, :]
    key_valid = attention_mask[:, None, None, :].bool()
    causal = (key <= query) & key_valid
    sliding = causal & (key > query - sliding_window)
    zero, blocked = torch.zeros((), dtype=dtype), torch.tensor(torch.finfo(dtype).min, dtype=dtype)
    return {"full_attention": torch.where(causal, zero, blocked),
            "sliding_attention": torch.where(sliding, zero, blocked)}


def text_encoder_inputs(encoder: torch.nn.Module, graph: Graph, seed: int) -> list[torch.Tensor]:
    """The (input_ids, attention_mask) of a random prompt as long as the graph's token axis."""
    return random_prompt(encoder, graph.inputs[0].shape[-1], seed)


def random_prompt(encoder: torch.nn.Module, length: int, seed: int) -> list[torch.Tensor]:
    """A random prompt of random length: `<bos>` then ids drawn from the whole vocabulary, left-padded
    with the tokenizer's pad id."""
    generator = torch.Generator().manual_seed(seed)
    valid = int(torch.randint(1, length + 1, (1,), generator=generator))
    mask = left_padded_mask(length, valid)
    ids = torch.randint(0, encoder.model.config.text_config.vocab_size, (1, length), generator=generator)
    tokenizer = getattr(encoder.tokenizer, "tokenizer", None)  # an architecture's skeleton has none: Gemma's ids
    pad, bos = (tokenizer.pad_token_id, tokenizer.bos_token_id) if tokenizer is not None else (PAD_ID, BOS_ID)
    ids = torch.where(mask.bool(), ids, pad)
    ids[0, length - valid] = bos
    return [ids, mask]


# --- connector -----------------------------------------------------------------------------------------


def connector_skeleton(files, dtype: torch.dtype) -> torch.nn.Module:
    """Text projection + both connectors (ltx-core's EmbeddingsProcessor) without weights (parameters on meta)."""
    gemma = files.gemma_config
    with parameters_on_meta():
        module = components.connector(files.config, gemma["hidden_size"], gemma["num_hidden_layers"])
    for attention in (m for m in module.modules() if isinstance(m, Attention)):
        # ltx-core's default picks xformers when importable, which does not export; same math otherwise.
        attention.attention_function = AttentionFunction.PYTORCH
    return module.eval()


def build_connector(files, dtype: torch.dtype) -> torch.nn.Module:
    """The connector, weights from the LTX checkpoint."""
    module = connector_skeleton(files, dtype)
    mapping = key_mapping(module, files.checkpoint.header, KEY_MAPS["connector"])
    return assign_from_file(module, files.checkpoint, mapping, dtype)


def static_replace_padded_with_learnable_registers(self, hidden_states, attention_mask):
    """Replaces Embeddings1DConnector._replace_padded_with_learnable_registers (boolean indexing: NonZero).

    With left padding and n valid tokens: out[j] = hidden[j + L - n] for j < n, else registers[j mod R],
    as a gather and a select with static shapes. Returns the all-valid (zero) additive mask like the original.
    """
    batch, length, width = hidden_states.shape
    valid = (attention_mask.reshape(batch, length) >= -9000.0).sum(dim=1, keepdim=True)  # (B, 1) int64
    position = torch.arange(length, device=hidden_states.device).unsqueeze(0)  # (1, L)
    source = torch.clamp(position + (length - valid), max=length - 1)
    moved = torch.gather(hidden_states, 1, source.unsqueeze(-1).expand(batch, length, width))
    registers = torch.tile(self.learnable_registers, (length // self.num_learnable_registers, 1))
    filled = torch.where((position < valid).unsqueeze(-1), moved, registers.to(hidden_states.dtype))
    return filled, torch.zeros_like(attention_mask)


def _clear_rope_grid_caches() -> None:
    """The connector's RoPE frequency grids are lru-cached tensors: made while tracing they are fake
    tensors, which eager calls after the trace would get back from the cache."""
    ltx_rope.generate_freq_grid_np.cache_clear()
    ltx_rope.generate_freq_grid_pytorch.cache_clear()


@contextlib.contextmanager
def connector_export_overrides():
    original_fill = Embeddings1DConnector._replace_padded_with_learnable_registers
    original_rope = ltx_rope.apply_split_rotary_emb
    Embeddings1DConnector._replace_padded_with_learnable_registers = static_replace_padded_with_learnable_registers
    ltx_rope.apply_split_rotary_emb = apply_split_rotary_emb_out_of_place
    _clear_rope_grid_caches()
    try:
        with NoopSqueezeMode():  # `_BasicTransformerBlock1D`: norm_hidden_states.squeeze(1) on (B, L, D)
            yield
    finally:
        Embeddings1DConnector._replace_padded_with_learnable_registers = original_fill
        ltx_rope.apply_split_rotary_emb = original_rope
        _clear_rope_grid_caches()


class ConnectorGraph(torch.nn.Module):
    """forward(hidden_states (1, L, hidden, layers + 1), attention_mask (1, L) int64, left-padded)
    -> (video_context (1, L, video_dim), audio_context (1, L, audio_dim))."""

    def __init__(self, processor: torch.nn.Module) -> None:
        super().__init__()
        self.processor = processor

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor):
        out = self.processor.process_hidden_states(hidden_states, attention_mask, padding_side="left")
        return out.video_encoding, out.audio_encoding


def wrap_connector(processor: torch.nn.Module, graph: Graph) -> torch.nn.Module:
    return ConnectorGraph(processor).eval()


def connector_inputs(processor: torch.nn.Module, graph: Graph, seed: int) -> list[torch.Tensor]:
    """Standard-normal hidden states and a left-padded mask of random valid length."""
    generator = torch.Generator().manual_seed(seed)
    hidden, mask = graph.inputs
    valid = int(torch.randint(1, mask.shape[-1] + 1, (1,), generator=generator))
    states = torch.randn(hidden.shape, generator=generator).to(torch_dtype(hidden.dtype))
    return [states, left_padded_mask(mask.shape[-1], valid)]


COMPONENTS = {
    "connector": ComponentModel(build_connector, weights_as_inputs(wrap_connector), connector_export_overrides,
                                with_weight_examples(connector_inputs), connector_skeleton),
}
