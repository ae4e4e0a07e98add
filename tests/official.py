"""How the parity tests run both sides on the tiny model with the same text contexts and record their stage
latents: `official_stages` patches an ltx-pipelines module for one call of its pipeline object, `our_stages`
patches ltx_trt.runtime.pipeline for one `run`."""

import types
from contextlib import contextmanager

import pytest
import torch


@contextmanager
def official_stages(module, contexts: list[dict], decode: bool = False):
    """Patch the ltx-pipelines module `module` (e.g. ltx_pipelines.distilled) for one call of its pipeline:
    `encode_prompts` returns `contexts` (dicts of video_context / audio_context: no Gemma), every
    `denoise_audio_video` appends its (video, audio) latents to the yielded list, the decoders are skipped
    unless `decode`, and torch.cuda.synchronize is a no-op without a GPU (the pipelines sync between stages)."""
    recorded = []
    denoise = module.denoise_audio_video

    def recording(*args, **kwargs):
        video, audio = denoise(*args, **kwargs)
        recorded.extend([video.latent.clone(), audio.latent.clone()])
        return video, audio

    encoded = [types.SimpleNamespace(video_encoding=c["video_context"], audio_encoding=c["audio_context"])
               for c in contexts]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(module, "denoise_audio_video", recording)
        patch.setattr(module, "encode_prompts", lambda prompts, ledger, **kwargs: encoded)
        if not decode:
            patch.setattr(module, "vae_decode_video", lambda *args, **kwargs: iter([]))
            patch.setattr(module, "vae_decode_audio", lambda *args, **kwargs: None)
        if not torch.cuda.is_available():
            patch.setattr(torch.cuda, "synchronize", lambda *args: None)
        yield recorded


@contextmanager
def our_stages(contexts: list[dict]):
    """Patch ltx_trt.runtime.pipeline for one run: `encode_text` returns `contexts` (no Gemma); each stage's
    latents, cleared of appended keyframe tokens, are appended to the yielded `.latents` shaped as an official
    stage returns them; the mp4 is not written, its frames and waveform are kept in `.written`."""
    from ltx_trt.runtime import media, pipeline

    ran = types.SimpleNamespace(latents=[], written={})
    cleared = pipeline._cleared

    def recording(latents, grid):
        out = cleared(latents, grid)
        ran.latents.extend([unpatchified(grid, out["video"], "video"), unpatchified(grid, out["audio"], "audio")])
        return out

    def mp4(path, frames, fps, waveform, rate):
        ran.written.update(frames=frames.clone(), waveform=waveform.clone())
        return path

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "_cleared", recording)
        patch.setattr(pipeline, "encode_text", lambda executor, graphs, prompts, device, done: contexts)
        patch.setattr(media, "write_mp4", mp4)
        yield ran


def unpatchified(grid, tokens: torch.Tensor, modality: str) -> torch.Tensor:
    """(1, N, 128) tokens of a stage's `grid` as the official stage returns its latent: (1, 128, F, H, W) video,
    (1, 8, T, 16) audio."""
    from ltx_core.components.patchifiers import AudioPatchifier, VideoLatentPatchifier
    from ltx_core.types import AudioLatentShape, VideoLatentShape

    if modality == "video":
        shape = VideoLatentShape(1, 128, grid.frames, grid.height, grid.width)
        return VideoLatentPatchifier(1).unpatchify(tokens, output_shape=shape).clone()
    return AudioPatchifier(1).unpatchify(tokens, output_shape=AudioLatentShape(1, 8, grid.audio_tokens, 16)).clone()
