"""Token positions and RoPE cos/sin tables, computed once before the loop by ltx-core's own code.

The transformer graphs take these tables as inputs (video self, audio self, and the A<->V cross
tables), so what the engines see is exactly what LTXModel's preprocessors compute inside the
official forward, 2.3 rounding included: video positions are cast to the latent dtype (bf16 in the
official pipelines) before the midpoint and max_pos division. Imports torch and ltx-core's
positional code (no model weights, no torchaudio).
"""

from dataclasses import dataclass

import torch
from ltx_core.components.patchifiers import AudioPatchifier, VideoLatentPatchifier
from ltx_core.model.transformer.rope import (
    LTXRopeType,
    generate_freq_grid_np,
    generate_freq_grid_pytorch,
    precompute_freqs_cis,
)
from ltx_core.tools import AudioLatentTools, VideoLatentTools
from ltx_core.types import AudioLatentShape, VideoLatentShape

from ltx_trt.core.shapes import AUDIO_LATENT_CHANNELS, AUDIO_MEL_BINS, VIDEO_LATENT_CHANNELS, Grid


@dataclass(frozen=True)
class RopeConfig:
    """The transformer config keys that decide the tables, read with LTXModelConfigurator's defaults."""

    video_heads: int
    video_dim: int
    audio_heads: int
    audio_dim: int
    cross_dim: int  # audio_cross_attention_dim: the A<->V tables' width, for both modalities
    theta: float
    video_max_pos: tuple[int, ...]
    audio_max_pos: tuple[int, ...]
    use_middle_indices_grid: bool
    rope_type: str  # "split" in 2.3
    float64_frequencies: bool  # frequencies_precision == "float64" in 2.3

    @classmethod
    def from_config(cls, config: dict) -> "RopeConfig":
        t = config["transformer"]
        heads, audio_heads = t.get("num_attention_heads", 32), t.get("audio_num_attention_heads", 32)
        return cls(
            video_heads=heads, video_dim=heads * t.get("attention_head_dim", 128),
            audio_heads=audio_heads, audio_dim=audio_heads * t.get("audio_attention_head_dim", 64),
            cross_dim=t.get("audio_cross_attention_dim", 2048),
            theta=t.get("positional_embedding_theta", 10000.0),
            video_max_pos=tuple(t.get("positional_embedding_max_pos", [20, 2048, 2048])),
            audio_max_pos=tuple(t.get("audio_positional_embedding_max_pos", [20])),
            use_middle_indices_grid=t.get("use_middle_indices_grid", True),
            rope_type=t.get("rope_type", "interleaved"),
            float64_frequencies=t.get("frequencies_precision", False) == "float64",
        )

    @property
    def cross_max_pos(self) -> int:
        """LTXModel: the larger of the two time max_pos values."""
        return max(self.video_max_pos[0], self.audio_max_pos[0])


def video_positions(grid: Grid, fps: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(1, 3, Nv, 2) [start, end) in (seconds, px, px), cast to the latent dtype like VideoLatentTools."""
    shape = VideoLatentShape(batch=1, channels=VIDEO_LATENT_CHANNELS, frames=grid.frames, height=grid.height,
                             width=grid.width)
    tools = VideoLatentTools(VideoLatentPatchifier(patch_size=1), shape, fps)
    return tools.create_initial_state(torch.device(device), dtype).positions


def audio_positions(grid: Grid, device: torch.device) -> torch.Tensor:
    """(1, 1, Na, 2) [start, end) in seconds, float32 (AudioLatentTools does not cast them)."""
    shape = AudioLatentShape(batch=1, channels=AUDIO_LATENT_CHANNELS, frames=grid.audio_tokens,
                             mel_bins=AUDIO_MEL_BINS)
    return AudioLatentTools(AudioPatchifier(patch_size=1), shape).create_initial_state(
        torch.device(device), torch.float32).positions


def _tables(config: RopeConfig, positions: torch.Tensor, dim: int, max_pos, middle: bool, heads: int,
            dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """TransformerArgsPreprocessor._prepare_positional_embeddings, without a model instance."""
    return precompute_freqs_cis(
        positions, dim=dim, out_dtype=dtype, theta=config.theta, max_pos=list(max_pos),
        use_middle_indices_grid=middle, num_attention_heads=heads, rope_type=LTXRopeType(config.rope_type),
        freq_grid_generator=generate_freq_grid_np if config.float64_frequencies else generate_freq_grid_pytorch)


def rope_tables(config: RopeConfig, grid: Grid, fps: float, dtype: torch.dtype, device: torch.device,
                video: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The eight table inputs of a transformer graph, keyed by ONNX input name: (1, heads, N, D/2) each.

    dtype is the latent (and table) dtype of the graph. Computed on `device`, where the official
    pipeline computes them (CUDA's cos/sin differ from the CPU's in the last bit). Cross tables use
    only the time axis, the audio cross-attention width and each modality's own head count
    (MultiModalTransformerArgsPreprocessor). `video`: the video positions of a conditioned state (appended
    keyframes have their own, ltx-core's VideoConditionByKeyframeIndex), default the grid's.
    """
    video = video_positions(grid, fps, dtype, device) if video is None else video.to(device)
    audio = audio_positions(grid, device)
    c = config
    pairs = {
        "video_rope": _tables(c, video, c.video_dim, c.video_max_pos, c.use_middle_indices_grid, c.video_heads, dtype),
        "audio_rope": _tables(c, audio, c.audio_dim, c.audio_max_pos, c.use_middle_indices_grid, c.audio_heads, dtype),
        "video_cross_rope": _tables(c, video[:, 0:1], c.cross_dim, [c.cross_max_pos], True, c.video_heads, dtype),
        "audio_cross_rope": _tables(c, audio[:, 0:1], c.cross_dim, [c.cross_max_pos], True, c.audio_heads, dtype),
    }
    return {f"{prefix}_{part}": table.contiguous() for prefix, (cos, sin) in pairs.items()
            for part, table in (("cos", cos), ("sin", sin))}
