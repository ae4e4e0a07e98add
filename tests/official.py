"""How the parity tests call ltx-pipelines' own pipeline objects on the tiny model: one context manager that
patches a pipeline module so its stage latents are recorded and its text contexts are fixed."""

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
