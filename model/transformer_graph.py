"""The LTX-2.3 transformer as a plain-tensor graph: latents, timesteps, sigmas, contexts, RoPE tables in;
velocities out.

The wrapper calls ltx-core's own preprocessors, blocks and output head; the only change is that the
RoPE cos/sin tables arrive as inputs (computed on the host by the same reference code). Export-only
overrides: an out-of-place split RoPE (the original writes into views with addcmul_, which exports as
ScatterND) and no-op `squeeze(dim)` calls that the exporter turns into invalid Squeeze nodes.
Imports torch and ltx-core; must not import export/ or build_engines/.
"""

import contextlib

import torch
from ltx_core.guidance.perturbations import BatchedPerturbationConfig
from ltx_core.model.transformer import rope as ltx_rope
from ltx_core.model.transformer.modality import Modality

from ltx_trt.model import components
from ltx_trt.model.graph_modules import TORCH_DTYPES, ComponentModel
from ltx_trt.model.loading import KEY_MAPS, key_mapping
from ltx_trt.model.weights import assign_from_file, parameters_on_meta
from ltx_trt.runtime.plan import Graph

ROPE_INPUTS = ("video_rope", "audio_rope", "video_cross_rope", "audio_cross_rope")


def build(files, dtype: torch.dtype) -> torch.nn.Module:
    with parameters_on_meta():
        model = components.transformer(files.config)
    mapping = key_mapping(model, files.checkpoint.header, KEY_MAPS["transformer"])
    return assign_from_file(model, files.checkpoint, mapping, dtype)


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


@contextlib.contextmanager
def _tables_from_inputs(preprocessor, self_tables, cross_tables):
    """Make the preprocessor return given tables instead of computing them from positions.

    `prepare()` asks twice: self-attention (its own max_pos list and inner dim) and A<->V cross
    attention (a fresh [cross_pe_max_pos] list with the audio cross-attention width).
    """
    simple = preprocessor.simple_preprocessor

    def tables(positions, inner_dim, max_pos, use_middle_indices_grid, num_attention_heads, x_dtype):
        if max_pos is simple.max_pos and inner_dim == simple.inner_dim:
            return self_tables
        if inner_dim == preprocessor.audio_cross_attention_dim and max_pos == [preprocessor.cross_pe_max_pos]:
            return cross_tables
        raise AssertionError(f"unexpected RoPE request: inner_dim={inner_dim} max_pos={max_pos}")

    simple._prepare_positional_embeddings = tables
    try:
        yield
    finally:
        del simple._prepare_positional_embeddings


class TransformerGraph(torch.nn.Module):
    """forward(video_tokens, audio_tokens, video_timesteps, audio_timesteps, video_sigma, audio_sigma,
    video_context, audio_context, 4 x (rope cos, rope sin)) -> (video_velocity, audio_velocity)."""

    def __init__(self, velocity_model: torch.nn.Module) -> None:
        super().__init__()
        self.velocity_model = velocity_model

    def forward(self, video_tokens, audio_tokens, video_timesteps, audio_timesteps, video_sigma, audio_sigma,
                video_context, audio_context, v_cos, v_sin, a_cos, a_sin, vx_cos, vx_sin, ax_cos, ax_sin):
        m = self.velocity_model
        # positions are consumed only by the overridden table computation; any 4-D tensor will do
        video = Modality(latent=video_tokens, sigma=video_sigma, timesteps=video_timesteps, positions=v_cos,
                         context=video_context)
        audio = Modality(latent=audio_tokens, sigma=audio_sigma, timesteps=audio_timesteps, positions=a_cos,
                         context=audio_context)
        with (_tables_from_inputs(m.video_args_preprocessor, (v_cos, v_sin), (vx_cos, vx_sin)),
              _tables_from_inputs(m.audio_args_preprocessor, (a_cos, a_sin), (ax_cos, ax_sin))):
            video_args = m.video_args_preprocessor.prepare(video, audio)
            audio_args = m.audio_args_preprocessor.prepare(audio, video)
        video_out, audio_out = m._process_transformer_blocks(
            video=video_args, audio=audio_args, perturbations=BatchedPerturbationConfig.empty(video_tokens.shape[0]))
        vx = m._process_output(m.scale_shift_table, m.norm_out, m.proj_out, video_out.x, video_out.embedded_timestep)
        ax = m._process_output(m.audio_scale_shift_table, m.audio_norm_out, m.audio_proj_out, audio_out.x,
                               audio_out.embedded_timestep)
        return vx, ax


def wrap(model: torch.nn.Module, graph: Graph) -> torch.nn.Module:
    return TransformerGraph(model).eval()


def example_inputs(model: torch.nn.Module, graph: Graph, seed: int) -> list[torch.Tensor]:
    """Random latents and contexts, sigmas in (0.05, 0.95), real RoPE tables for the graph's grid."""
    generator = torch.Generator().manual_seed(seed)
    specs = {s.name: s for s in graph.inputs}
    out = {}
    for name in ("video_tokens", "audio_tokens", "video_context", "audio_context"):
        spec = specs[name]
        out[name] = torch.randn(spec.shape, generator=generator).to(TORCH_DTYPES[spec.dtype])
    for prefix in ("video", "audio"):
        sigma = torch.rand(1, generator=generator) * 0.9 + 0.05
        out[f"{prefix}_sigma"] = sigma
        out[f"{prefix}_timesteps"] = sigma.expand(specs[f"{prefix}_timesteps"].shape).clone()
    tables = reference_rope_tables(model, graph.grid, fps=24, dtype=TORCH_DTYPES[specs["video_rope_cos"].dtype])
    for prefix in ROPE_INPUTS:
        out[f"{prefix}_cos"], out[f"{prefix}_sin"] = tables[prefix]
    return [out[s.name] for s in graph.inputs]


def reference_positions(grid, fps: float, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Video (1,3,Nv,2) and audio (1,1,Na,2) positions as ltx-core's latent tools create them."""
    from ltx_core.components.patchifiers import AudioPatchifier, VideoLatentPatchifier
    from ltx_core.tools import AudioLatentTools, VideoLatentTools
    from ltx_core.types import AudioLatentShape, VideoLatentShape

    video_shape = VideoLatentShape(batch=1, channels=128, frames=grid.frames, height=grid.height, width=grid.width)
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


COMPONENTS = {"transformer": ComponentModel(build, wrap, export_overrides, example_inputs)}
