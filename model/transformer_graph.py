"""The transformer component: how export builds, wraps and feeds its parts (model/transformer_parts.py).

The parts call ltx-core's own preprocessors, blocks and output head; the RoPE cos/sin tables arrive as
inputs (computed on the host by the same reference code, runtime/rope.py). Export-only overrides: an
out-of-place split RoPE (the original writes into views with addcmul_, which exports as ScatterND)
and no-op `squeeze(dim)` calls that the exporter turns into invalid Squeeze nodes.
Imports torch and ltx-core; of ltx_trt, imports core only.
"""

import contextlib

import torch
from ltx_core.model.transformer import rope as ltx_rope

from ltx_trt.core.components import MODALITIES
from ltx_trt.core.dtypes import torch_dtype
from ltx_trt.core.plan import Graph
from ltx_trt.core.shapes import PERTURBATIONS, WEIGHT_PREFIX
from ltx_trt.model import components, transformer_parts
from ltx_trt.model.graph_modules import ComponentModel
from ltx_trt.model.loading import KEY_MAPS, key_mapping, quantized_keys
from ltx_trt.model.quantized_weights import example_reader, graph_reader
from ltx_trt.model.weights import assign_from_file, parameters_on_meta


def build(files, dtype: torch.dtype) -> torch.nn.Module:
    """The transformer with its weights (a quantized file's Linears dequantized: export's example inputs)."""
    with parameters_on_meta():
        model = components.transformer(files.config)
    stored = files.stored_quantization
    mapping = key_mapping(model, files.checkpoint.header, KEY_MAPS["transformer"], stored)
    read = graph_reader(transformer_parts.checkpoint_reader(files.checkpoint), files.dims.transformer, stored, dtype)
    weights = set(quantized_keys(stored).values())
    dequantized = {key: read("block", int(key.split(".")[1]), key.split(".", 2)[2]) for key in weights}
    return assign_from_file(model, files.checkpoint, mapping, dtype, dequantized)


def apply_split_rotary_emb_out_of_place(input_tensor, cos_freqs, sin_freqs):
    """ltx-core's split (rotate-half) RoPE without in-place writes into views; same math."""
    needs_reshape = input_tensor.ndim != 4 and cos_freqs.ndim == 4
    if needs_reshape:
        b, h, t, _ = cos_freqs.shape
        input_tensor = input_tensor.reshape(b, t, h, -1).swapaxes(1, 2)
    first, second = input_tensor.chunk(2, dim=-1)
    output = torch.cat((first * cos_freqs - second * sin_freqs, second * cos_freqs + first * sin_freqs), dim=-1)
    if needs_reshape:
        output = output.swapaxes(1, 2).reshape(b, t, -1)
    return output


class NoopSqueezeMode(torch.overrides.TorchFunctionMode):
    """`x.squeeze(dim)` on a dim whose size is not 1 does nothing in PyTorch, but the exporter still
    emits Squeeze(axes=[dim]), which ONNX Runtime rejects (ltx-core: `get_av_ca_ada_values`)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in (torch.Tensor.squeeze, torch.squeeze):
            dim = args[1] if len(args) > 1 else kwargs.get("dim")
            if isinstance(dim, int) and args[0].shape[dim] != 1:
                return args[0]
        return func(*args, **kwargs)


@contextlib.contextmanager
def export_overrides():
    original = ltx_rope.apply_split_rotary_emb
    ltx_rope.apply_split_rotary_emb = apply_split_rotary_emb_out_of_place
    try:
        with NoopSqueezeMode():
            yield
    finally:
        ltx_rope.apply_split_rotary_emb = original


def wrap(model: torch.nn.Module, graph: Graph) -> torch.nn.Module:
    return transformer_parts.wrap_part(model, graph)


# What the rows of a guided graph's example inputs skip, row b taking entry b mod 4: the conditional pass, STG
# (self-attention), modality-isolated (A<->V cross-attention), negative; from 3 rows every mask type holds 0 and 1.
EXAMPLE_SKIPS = ((), ("skip_video_self_attn", "skip_audio_self_attn"), ("skip_a2v_cross_attn", "skip_v2a_cross_attn"),
                 ())


def example_masks(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """`perturbation_mask` (4, B), or `perturbation_masks` (blocks, 4, B) with every block alike, per EXAMPLE_SKIPS."""
    batch = shape[-1]
    mask = torch.tensor([[0.0 if t in EXAMPLE_SKIPS[b % len(EXAMPLE_SKIPS)] else 1.0 for b in range(batch)]
                         for t in PERTURBATIONS], dtype=dtype)
    return mask.expand(shape).clone()


def example_inputs(model: torch.nn.Module, graph: Graph, seed: int) -> list[torch.Tensor]:
    """One part's inputs: random activations, sigmas in (0.05, 0.95) with matching timesteps (every batch row
    alike, as in a guided step), real RoPE tables for the graph's grid, the model's own weights (block 0 for the
    block part), and for a guided block masks in which every attention type is skipped by some rows only."""
    generator = torch.Generator().manual_seed(seed)
    part = transformer_parts.part_of(graph)
    weight = example_reader(transformer_parts.model_reader(model), graph.weights, model.patchify_proj.weight.dtype)
    sigma = {m: torch.rand(1, generator=generator) * 0.9 + 0.05 for m in MODALITIES}
    tables = {}
    if any(s.name == "video_rope_cos" for s in graph.inputs):
        rope_dtype = torch_dtype(next(s.dtype for s in graph.inputs if s.name == "video_rope_cos"))
        tables = {f"{prefix}_{cs}": t for prefix, pair in reference_rope_tables(model, graph.grid, 24, rope_dtype).items()
                  for cs, t in zip(("cos", "sin"), pair)}
    out = []
    for spec in graph.inputs:
        dtype = torch_dtype(spec.dtype)
        modality = spec.name.split("_")[0]
        if spec.name.startswith(WEIGHT_PREFIX):
            out.append(weight(part, 0, spec.name[len(WEIGHT_PREFIX):]).detach())
        elif spec.name in tables:
            out.append(tables[spec.name])
        elif spec.name.startswith("perturbation_mask"):
            out.append(example_masks(spec.shape, dtype))
        elif spec.name.endswith(("_sigma", "_timesteps")):
            out.append(sigma[modality].expand(spec.shape).to(dtype).clone())
        else:
            out.append(torch.randn(spec.shape, generator=generator).to(dtype))
    return out


def reference_positions(grid, fps: float, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Video (1,3,Nv,2) and audio (1,1,Na,2) positions as ltx-core's latent tools create them. A grid with appended
    keyframes gets positions as if the clip went on for those latent frames (an example's; a run takes the
    conditioned state's, runtime/pipeline.py)."""
    from ltx_core.components.patchifiers import AudioPatchifier, VideoLatentPatchifier
    from ltx_core.tools import AudioLatentTools, VideoLatentTools
    from ltx_core.types import AudioLatentShape, VideoLatentShape

    video_shape = VideoLatentShape(batch=1, channels=128, frames=grid.frames + grid.keyframes, height=grid.height,
                                   width=grid.width)
    video = VideoLatentTools(VideoLatentPatchifier(patch_size=1), video_shape, fps).create_initial_state(
        device="cpu", dtype=dtype).positions
    audio_shape = AudioLatentShape(batch=1, channels=8, frames=grid.audio_tokens, mel_bins=16)
    audio = AudioLatentTools(AudioPatchifier(patch_size=16), audio_shape).create_initial_state(
        device="cpu", dtype=torch.float32).positions
    return video, audio


def reference_rope_tables(model, grid, fps: float, dtype: torch.dtype) -> dict:
    """The four RoPE table pairs exactly as the model's preprocessors compute them from positions."""
    video_positions, audio_positions = reference_positions(grid, fps, dtype)
    tables = {}
    for prefix, pre, positions in (("video", model.video_args_preprocessor, video_positions),
                                   ("audio", model.audio_args_preprocessor, audio_positions)):
        simple = pre.simple_preprocessor
        tables[f"{prefix}_rope"] = simple._prepare_positional_embeddings(
            positions=positions, inner_dim=simple.inner_dim, max_pos=simple.max_pos,
            use_middle_indices_grid=simple.use_middle_indices_grid, num_attention_heads=simple.num_attention_heads,
            x_dtype=dtype)
        tables[f"{prefix}_cross_rope"] = simple._prepare_positional_embeddings(
            positions=positions[:, 0:1, :], inner_dim=pre.audio_cross_attention_dim, max_pos=[pre.cross_pe_max_pos],
            use_middle_indices_grid=True, num_attention_heads=simple.num_attention_heads, x_dtype=dtype)
    return tables


COMPONENTS = {"transformer": ComponentModel(build, wrap, export_overrides, example_inputs,
                                            lambda files, dtype: transformer_parts.meta_transformer(files.config))}
