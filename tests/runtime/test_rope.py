"""Host-side RoPE tables equal what LTXModel's preprocessors compute inside the official forward."""

import pytest
import torch
from ltx_core.components.patchifiers import AudioPatchifier, VideoLatentPatchifier
from ltx_core.model.transformer.modality import Modality
from ltx_core.tools import AudioLatentTools, VideoLatentTools
from ltx_core.types import AudioLatentShape, VideoLatentShape

from ltx_trt.core import shapes
from ltx_trt.model import components
from ltx_trt.model.ltx23_config import full_config, tiny_config
from ltx_trt.runtime import rope

GRID = shapes.latent_grid(128, 64, 17, 24)  # 3 x 2 x 4 video tokens, 18 audio tokens


def _official_modalities(grid, fps, dtype, model):
    """Modalities as ltx-pipelines builds them (positions from the latent tools, random latents)."""
    video_shape = VideoLatentShape(batch=1, channels=128, frames=grid.frames, height=grid.height, width=grid.width)
    video = VideoLatentTools(VideoLatentPatchifier(patch_size=1), video_shape, fps).create_initial_state("cpu", dtype)
    audio_shape = AudioLatentShape(batch=1, channels=8, frames=grid.audio_tokens, mel_bins=16)
    audio = AudioLatentTools(AudioPatchifier(patch_size=1), audio_shape).create_initial_state("cpu", dtype)
    sigma = torch.tensor(0.5)
    return tuple(Modality(latent=state.latent, sigma=sigma, timesteps=state.denoise_mask * sigma,
                          positions=state.positions, context=torch.zeros(1, 4, width, dtype=dtype))
                 for state, width in ((video, model.inner_dim), (audio, model.audio_inner_dim)))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_tables_equal_the_preprocessors_own_on_the_tiny_model(dtype):
    config = tiny_config()
    model = components.transformer(config).to(dtype).eval()
    video, audio = _official_modalities(GRID, 24, dtype, model)
    with torch.no_grad():
        video_args = model.video_args_preprocessor.prepare(video, audio)
        audio_args = model.audio_args_preprocessor.prepare(audio, video)
    tables = rope.rope_tables(rope.RopeConfig.from_config(config), GRID, 24, dtype, torch.device("cpu"))
    expected = {"video_rope": video_args.positional_embeddings, "audio_rope": audio_args.positional_embeddings,
                "video_cross_rope": video_args.cross_positional_embeddings,
                "audio_cross_rope": audio_args.cross_positional_embeddings}
    for prefix, (cos, sin) in expected.items():
        assert torch.equal(tables[f"{prefix}_cos"], cos) and torch.equal(tables[f"{prefix}_sin"], sin), prefix
        assert tables[f"{prefix}_cos"].dtype == dtype


def test_video_positions_carry_the_bf16_rounding_of_the_2_3_code():
    positions = rope.video_positions(GRID, 24, torch.bfloat16, torch.device("cpu"))
    assert positions.dtype == torch.bfloat16
    # latent frame 1 covers pixel frames [1, 9): 1/24 s is 0.041748 in bf16 (positions are rounded through bf16 in the 2.3 code)
    assert positions[0, 0, GRID.height * GRID.width, 0].item() == pytest.approx(0.041748, abs=1e-6)


def test_tables_have_the_transformer_specs_shapes_for_the_22b_config():
    config = full_config()
    t = config["transformer"]
    dims = shapes.ModelDims(t["num_attention_heads"], t["attention_head_dim"], t["audio_num_attention_heads"],
                            t["audio_attention_head_dim"], t["audio_cross_attention_dim"], 3840, 48)
    inputs, _ = shapes.transformer_specs(dims, GRID, "bfloat16")
    tables = rope.rope_tables(rope.RopeConfig.from_config(config), GRID, 24, torch.bfloat16, torch.device("cpu"))
    for spec in inputs:
        if "rope" in spec.name:
            assert tuple(tables[spec.name].shape) == spec.shape, spec.name
