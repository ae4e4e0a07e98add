"""Shape arithmetic: profile bucket + model dims -> latent grids -> tensor specs per engine.

Pure Python (no torch, no TensorRT) so that every stage can import it. The tensor names here are
the ONNX I/O names, the runtime buffer names and the manifest keys: one name per tensor.
"""

import math
from dataclasses import dataclass

from ltx_trt.core.components import MODALITIES
from ltx_trt.core.dtypes import nbytes
from ltx_trt.core.precision import Quantization, quantized_params
from ltx_trt.core.profiles import Bucket

CONTEXT_TOKENS = 1024  # the Gemma tokenizer pads every prompt to 1024 tokens
VIDEO_LATENT_CHANNELS = 128
AUDIO_LATENT_CHANNELS, AUDIO_MEL_BINS = 8, 16  # one audio token = 8 x 16 = 128 values
AUDIO_LATENTS_PER_SECOND = 25  # 16 kHz / hop 160 / 4x latent downsampling
VOCODER_SAMPLES_PER_MEL_FRAME = 160
OUTPUT_SAMPLE_RATE = 48_000
TIME_SCALE, SPACE_SCALE = 8, 32  # video VAE compression
# The attention a guidance pass may skip, as ltx-core's PerturbationType values in its declaration order: the
# rows of a guided graph's `perturbation_masks` (blocks, 4, batch), 0 where batch row b skips that attention in
# that block, else 1 (what ltx-core's BatchedPerturbationConfig.mask gives).
PERTURBATIONS = ("skip_a2v_cross_attn", "skip_v2a_cross_attn", "skip_video_self_attn", "skip_audio_self_attn")


@dataclass(frozen=True)
class ModelDims:
    """The few model widths that decide tensor shapes, read from the checkpoint and Gemma configs."""

    video_heads: int
    video_head_dim: int
    audio_heads: int
    audio_head_dim: int
    audio_cross_dim: int
    gemma_hidden: int
    gemma_layers: int
    # the transformer's parameters by part (model/transformer_parts.py weight_layout); None: no transformer graphs
    transformer: "ChainWeights | None" = None
    # the Gemma-3 language model's, and which of its layers use sliding-window attention (model/text_parts.py)
    text_encoder: "ChainWeights | None" = None
    sliding_layers: tuple[int, ...] = ()
    # the parameters and stored buffers of the components that run as one graph (connector, upsampler, decoders):
    # ((component, ((name, shape, dtype or None: the graph's activation dtype), ...)), ...); their graphs take them
    # as `weight.*` inputs (model/weight_inputs.py). A component not listed keeps its weights inside its graph.
    weights: tuple[tuple[str, tuple[tuple[str, tuple[int, ...], str | None], ...]], ...] = ()

    def whole_weights(self, component: str) -> tuple[tuple[str, tuple[int, ...], str | None], ...]:
        """The weight inputs of a one-graph component, () if its graphs keep their weights inside."""
        return dict(self.weights).get(component, ())

    @property
    def video_dim(self) -> int:
        return self.video_heads * self.video_head_dim

    @property
    def audio_dim(self) -> int:
        return self.audio_heads * self.audio_head_dim


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]
    dtype: str  # a core.dtypes name: "float32", "bfloat16", "int64", ...

    def as_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @property
    def nbytes(self) -> int:
        return nbytes(self.dtype, self.shape)


WEIGHT_PREFIX = "weight."  # graph inputs named so are parameters the runtime binds (runtime/weight_store.py)


@dataclass(frozen=True)
class ChainWeights:
    """Parameter names and shapes of a chained model's three parts (runtime/chain.py), and the block count.

    Transformer: `block` names are relative to one ltx-core block (`attn1.to_q.weight`), the 48 blocks
    share them; `pre` (patchify + AdaLN embeddings) and `post` (output norm + projection) are top-level
    names. Text encoder: one Gemma-3 decoder layer as the block; `pre` the token embedding, `post` the
    final norm.
    """

    blocks: int
    pre: tuple[tuple[str, tuple[int, ...]], ...]
    block: tuple[tuple[str, tuple[int, ...]], ...]
    post: tuple[tuple[str, tuple[int, ...]], ...]
    # which block Linears are quantized: in the file (ModelDims), or in the graphs (core/plan.py)
    quantization: Quantization | None = None

    def linears(self) -> tuple[str, ...]:
        """Names of the Linears inside one block (2-D `.weight` parameters)."""
        return tuple(n.removesuffix(".weight") for n, s in self.block if n.endswith(".weight") and len(s) == 2)

    def part_of(self, block: int) -> str:
        """The part graph that runs block `block`: "block" (plain weights) or "block_<format>"."""
        q = self.quantization
        return f"block_{q.format}" if q is not None and block in q.blocks else "block"

    def block_parts(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.part_of(i) for i in range(self.blocks)))

    def params(self, part: str) -> tuple[tuple[str, tuple[int, ...], str | None], ...]:
        """(name, shape, dtype) of a part's weight inputs; dtype None: the graph's activation dtype."""
        if part.startswith("block_"):
            return quantized_params(self.block, self.quantization)
        return tuple((name, tuple(shape), None) for name, shape in getattr(self, part))

    def width(self, name: str) -> int:
        """Output width of a top-level Linear of `pre` (decides the AdaLN tensors' widths)."""
        return dict(self.pre)[name][0]

    def count(self, part: str) -> int:
        """Parameters in one instance of `part`."""
        return sum(math.prod(shape) for _, shape in getattr(self, part))


@dataclass(frozen=True)
class Grid:
    """A video latent grid (F', H', W') plus the audio token count for the same clip."""

    frames: int
    height: int
    width: int
    audio_tokens: int
    # latent frames of keyframe tokens appended after the grid's own (ltx-core's VideoConditionByKeyframeIndex
    # appends one per image): the transformer runs on sequence_tokens; the latent itself stays video_tokens
    keyframes: int = 0

    @property
    def video_tokens(self) -> int:
        return self.frames * self.height * self.width

    @property
    def sequence_tokens(self) -> int:
        """The transformer's video sequence: the grid's tokens, then h x w per appended keyframe."""
        return (self.frames + self.keyframes) * self.height * self.width


def latent_grid(width: int, height: int, frames: int, fps: int) -> Grid:
    if frames % TIME_SCALE != 1:
        raise ValueError(f"frames must be 8k+1, got {frames}")
    if width % SPACE_SCALE or height % SPACE_SCALE:
        raise ValueError(f"width/height must be multiples of 32, got {width}x{height}")
    audio = round(frames / fps * AUDIO_LATENTS_PER_SECOND)
    return Grid((frames - 1) // TIME_SCALE + 1, height // SPACE_SCALE, width // SPACE_SCALE, audio)


def stage_grids(bucket: Bucket) -> tuple[Grid, Grid]:
    """Stage 1 runs at half width and height; stage 2 at the bucket's full size."""
    full = latent_grid(bucket.width, bucket.height, bucket.frames, bucket.fps)
    half = latent_grid(bucket.width // 2, bucket.height // 2, bucket.frames, bucket.fps)
    return half, full


def audio_samples(audio_tokens: int) -> int:
    """Samples per channel at 48 kHz: 4 mel frames per latent (causal: minus 3), 160 per frame, x3."""
    mel_frames = 4 * audio_tokens - 3
    return mel_frames * VOCODER_SAMPLES_PER_MEL_FRAME * (OUTPUT_SAMPLE_RATE // 16_000)


def _f(name: str, shape: tuple[int, ...], float_dtype: str) -> TensorSpec:
    return TensorSpec(name, shape, float_dtype)


def text_encoder_specs(dims: ModelDims, dtype: str) -> tuple[list[TensorSpec], list[TensorSpec]]:
    tokens = (1, CONTEXT_TOKENS)
    hidden = (1, CONTEXT_TOKENS, dims.gemma_hidden, dims.gemma_layers + 1)
    return ([TensorSpec("input_ids", tokens, "int64"), TensorSpec("attention_mask", tokens, "int64")],
            [_f("hidden_states", hidden, dtype)])


def connector_specs(dims: ModelDims, dtype: str) -> tuple[list[TensorSpec], list[TensorSpec]]:
    inputs, outputs = text_encoder_specs(dims, dtype)
    return ([outputs[0], inputs[1]],
            [_f("video_context", (1, CONTEXT_TOKENS, dims.video_dim), dtype),
             _f("audio_context", (1, CONTEXT_TOKENS, dims.audio_dim), dtype)])


def transformer_specs(dims: ModelDims, grid: Grid, dtype: str,
                      guided: int | None = None) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """(inputs, outputs) of the logical transformer graph. `guided`: the batch of a guided graph (one row per
    guidance pass; its `perturbation_masks` say which attention each row skips per block), None: batch 1.

    The RoPE tables stay batch 1 in both (every row has the same positions): ltx-core's split RoPE reshapes
    by the table's batch, so the guided block part expands them to the batch (model/transformer_parts.py).
    """
    nv, na = grid.sequence_tokens, grid.audio_tokens
    b = guided or 1
    half_cross = dims.audio_cross_dim // 2
    inputs = [
        _f("video_tokens", (b, nv, VIDEO_LATENT_CHANNELS), dtype),
        _f("audio_tokens", (b, na, AUDIO_LATENT_CHANNELS * AUDIO_MEL_BINS), dtype),
        TensorSpec("video_timesteps", (b, nv), "float32"),  # sigma x denoise mask, per token
        TensorSpec("audio_timesteps", (b, na), "float32"),
        TensorSpec("video_sigma", (b,), "float32"),
        TensorSpec("audio_sigma", (b,), "float32"),
        _f("video_context", (b, CONTEXT_TOKENS, dims.video_dim), dtype),
        _f("audio_context", (b, CONTEXT_TOKENS, dims.audio_dim), dtype),
    ]
    # RoPE tables (1, heads, tokens, head_dim / 2), computed on the host by the reference code.
    rope = {
        "video_rope": (dims.video_heads, nv, dims.video_head_dim // 2),
        "audio_rope": (dims.audio_heads, na, dims.audio_head_dim // 2),
        "video_cross_rope": (dims.video_heads, nv, half_cross // dims.video_heads),
        "audio_cross_rope": (dims.audio_heads, na, half_cross // dims.audio_heads),
    }
    for prefix, shape in rope.items():
        inputs += [_f(f"{prefix}_cos", (1, *shape), dtype), _f(f"{prefix}_sin", (1, *shape), dtype)]
    if guided:
        if dims.transformer is None:
            raise ValueError("guided transformer graphs need ModelDims.transformer (the block count)")
        inputs.append(_f("perturbation_masks", (dims.transformer.blocks, len(PERTURBATIONS), b), dtype))
    outputs = [_f("video_velocity", (b, nv, VIDEO_LATENT_CHANNELS), dtype),
               _f("audio_velocity", (b, na, AUDIO_LATENT_CHANNELS * AUDIO_MEL_BINS), dtype)]
    return inputs, outputs


def upsampler_specs(low: Grid, dtype: str) -> tuple[list[TensorSpec], list[TensorSpec]]:
    c = VIDEO_LATENT_CHANNELS
    return ([_f("stage1_video_latent", (1, c, low.frames, low.height, low.width), dtype)],
            [_f("stage2_video_latent", (1, c, low.frames, 2 * low.height, 2 * low.width), dtype)])


def video_encoder_specs(grid: Grid, dtype: str) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """One conditioning image (1, 3, 1, 32h, 32w) in [-1, 1] -> its normalised latent (1, 128, 1, h, w)."""
    image = (1, 3, 1, grid.height * SPACE_SCALE, grid.width * SPACE_SCALE)
    return ([_f("image", image, dtype)], [_f("image_latent", (1, VIDEO_LATENT_CHANNELS, 1, grid.height, grid.width), dtype)])


def video_decoder_specs(grid: Grid, dtype: str) -> tuple[list[TensorSpec], list[TensorSpec]]:
    frames = TIME_SCALE * (grid.frames - 1) + 1
    pixels = (1, 3, frames, grid.height * SPACE_SCALE, grid.width * SPACE_SCALE)
    return ([_f("video_latent", (1, VIDEO_LATENT_CHANNELS, grid.frames, grid.height, grid.width), dtype)],
            [_f("video_pixels", pixels, dtype)])


def audio_decoder_specs(grid: Grid, dtype: str) -> tuple[list[TensorSpec], list[TensorSpec]]:
    latent = (1, AUDIO_LATENT_CHANNELS, grid.audio_tokens, AUDIO_MEL_BINS)
    return ([_f("audio_latent", latent, dtype)],
            [TensorSpec("audio_waveform", (1, 2, audio_samples(grid.audio_tokens)), "float32")])


def _ada_widths(w: ChainWeights, modality: str) -> dict[str, int]:
    """Widths of the per-modality AdaLN tensors the pre part hands to every block."""
    a = "audio_" if modality == "audio" else ""
    gate = "av_ca_a2v_gate" if modality == "video" else "av_ca_v2a_gate"
    return {"ada_timesteps": w.width(f"{a}adaln_single.linear.weight"),
            "prompt_timestep": w.width(f"{a}prompt_adaln_single.linear.weight"),
            "cross_scale_shift": w.width(f"av_ca_{modality}_scale_shift_adaln_single.linear.weight"),
            "cross_gate": w.width(f"{gate}_adaln_single.linear.weight")}


def weight_specs(params, dtype: str) -> list[TensorSpec]:
    return [TensorSpec(WEIGHT_PREFIX + name, tuple(shape), own or dtype) for name, shape, own in params]


def transformer_part_specs(dims: ModelDims, grid: Grid, dtype: str, part: str, weights: ChainWeights | None = None,
                           guided: int | None = None):
    """(inputs, outputs) of one part of the block-chained transformer (see runtime/chain.py).

    pre: the logical graph's latents, timesteps, sigmas -> hidden states and AdaLN tensors;
    block (and block_<format>, quantized): hidden states + AdaLN tensors + contexts + RoPE tables + one
    block's weights -> hidden states; post: hidden states + embedded timesteps -> velocities. Parameters
    are `weight.*` inputs throughout; `weights` (default dims.transformer) says which are quantized.
    `guided` (a batch, see transformer_specs): activations of that batch, and the block parts take
    `perturbation_mask` (4, batch), their block's row of the logical `perturbation_masks`.
    """
    w = weights or dims.transformer
    if w is None:
        raise ValueError("transformer graphs need ModelDims.transformer (the checkpoint's weight layout)")
    logical_in, logical_out = transformer_specs(dims, grid, dtype, guided)
    b = guided or 1
    tokens = {"video": grid.sequence_tokens, "audio": grid.audio_tokens}
    width = {"video": dims.video_dim, "audio": dims.audio_dim}
    hidden = {m: _f(f"{m}_hidden", (b, tokens[m], width[m]), dtype) for m in MODALITIES}
    ada = []
    for m in MODALITIES:
        for field, size in _ada_widths(w, m).items():
            ada.append(_f(f"{m}_{field}", (b, tokens[m] if field == "ada_timesteps" else 1, size), dtype))
    embedded = [_f(f"{m}_embedded_timestep", (b, tokens[m], width[m]), dtype) for m in MODALITIES]
    if part == "pre":
        return list(logical_in[:6]) + weight_specs(w.params(part), dtype), [*hidden.values(), *ada, *embedded]
    if part in w.block_parts():
        outputs = [_f(f"{m}_hidden_out", hidden[m].shape, dtype) for m in MODALITIES]
        shared = [s for s in logical_in[6:] if s.name != "perturbation_masks"]  # contexts, RoPE tables
        mask = [_f("perturbation_mask", (len(PERTURBATIONS), b), dtype)] if guided else []
        return [*hidden.values(), *ada, *shared, *mask, *weight_specs(w.params(part), dtype)], outputs
    if part == "post":
        return [*hidden.values(), *embedded, *weight_specs(w.params(part), dtype)], logical_out
    raise ValueError(f"unknown transformer part {part!r}; expected pre, {', '.join(w.block_parts())} or post")


def text_encoder_part_specs(dims: ModelDims, dtype: str, part: str, weights: ChainWeights | None = None):
    """(inputs, outputs) of one part of the layer-chained Gemma-3 text encoder (runtime/chain.py TextChain).

    pre: token ids and mask -> embeddings, the two additive attention masks and the two RoPE tables;
    block (block_<format>: quantized): one decoder layer on (hidden states, its mask, its RoPE table);
    post: the final norm.
    """
    w = weights or dims.text_encoder
    if w is None:
        raise ValueError("text encoder graphs need ModelDims.text_encoder (the Gemma folder's weight layout)")
    logical_in, _ = text_encoder_specs(dims, dtype)
    hidden = _f("text_hidden", (1, CONTEXT_TOKENS, dims.gemma_hidden), dtype)
    mask = (1, 1, CONTEXT_TOKENS, CONTEXT_TOKENS)
    rope = (1, CONTEXT_TOKENS, dict(w.block)["self_attn.q_norm.weight"][0])
    if part == "pre":
        outputs = [hidden, _f("full_attention_mask", mask, dtype), _f("sliding_attention_mask", mask, dtype)]
        outputs += [_f(f"{kind}_rope_{cs}", rope, dtype) for kind in ("global", "local") for cs in ("cos", "sin")]
        return logical_in + weight_specs(w.params(part), dtype), outputs
    if part in w.block_parts():
        inputs = [hidden, _f("layer_attention_mask", mask, dtype), _f("layer_rope_cos", rope, dtype),
                  _f("layer_rope_sin", rope, dtype)]
        return inputs + weight_specs(w.params(part), dtype), [_f("text_hidden_out", hidden.shape, dtype)]
    if part == "post":
        return [hidden, *weight_specs(w.params(part), dtype)], [_f("text_hidden_out", hidden.shape, dtype)]
    raise ValueError(f"unknown text encoder part {part!r}; expected pre, {', '.join(w.block_parts())} or post")
