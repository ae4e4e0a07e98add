"""The official side of benchmarks/gpu_distilled.py: ltx-pipelines' DistilledPipeline.__call__ itself on
in-memory modules, its phases and transformer forwards timed, its stage latents kept for the comparison."""

import contextlib
import gc
import itertools
import types
from unittest import mock

import torch

import ltx_trt.model.components  # noqa: F401  (first: its torchaudio placeholder is what ltx-core imports)

from ltx_core.model.video_vae import TilingConfig  # noqa: E402
from ltx_core.model.transformer import X0Model  # noqa: E402
from ltx_core.components.patchifiers import AudioPatchifier, VideoLatentPatchifier  # noqa: E402
import ltx_pipelines.distilled as official  # noqa: E402
from ltx_pipelines.utils.types import PipelineComponents  # noqa: E402

from gpu_timing import Clock, Timeline, phase  # noqa: E402


class InMemoryLedger:
    """What DistilledPipeline asks its ModelLedger for, handed out from memory (no file loader)."""

    def __init__(self, models) -> None:
        self.models = models

    def transformer(self):
        return X0Model(self.models.transformer).eval()

    def video_encoder(self):
        return self.models.upsampler  # per_channel_statistics: all upsample_video reads of the encoder

    def spatial_upsampler(self):
        return self.models.upsampler.upsampler

    def video_decoder(self):
        return self.models.video_decoder

    def audio_decoder(self):
        return self.models.audio.decoder

    def vocoder(self):
        return self.models.audio.vocoder


def run_official(setup, seed: int) -> dict:
    """DistilledPipeline.__call__ on the in-memory modules; returns timings and the stage latents."""
    device, bucket, models = setup.device, setup.bucket, setup.models
    clock, timeline, latents = Clock(device), Timeline(device), []
    pipe = official.DistilledPipeline.__new__(official.DistilledPipeline)
    pipe.device, pipe.dtype, pipe.model_ledger = device, torch.bfloat16, InMemoryLedger(models)
    pipe.pipeline_components = PipelineComponents(dtype=torch.bfloat16, device=device)
    context = types.SimpleNamespace(video_encoding=setup.contexts["video"], audio_encoding=setup.contexts["audio"])
    keep = lambda out: latents.append(out) or out  # noqa: E731
    cleanup = official.cleanup_memory if device.type == "cuda" else gc.collect
    started = {}
    hooks = [models.transformer.register_forward_pre_hook(lambda *a: started.update(t=clock.stamp())),
             models.transformer.register_forward_hook(
                 lambda *a: clock.pairs.append((f"transformer stage{len(latents) + 1}", started["t"], clock.stamp())))]
    with contextlib.ExitStack() as stack:
        patch = lambda name, new: stack.enter_context(mock.patch.object(official, name, new))  # noqa: E731
        patch("encode_prompts", lambda prompts, *args, **kwargs: [context])
        patch("denoise_audio_video", phase(timeline, official.denoise_audio_video, ["stage 1", "stage 2"], keep=keep))
        patch("upsample_video", phase(timeline, official.upsample_video, ["upsample"]))
        patch("vae_decode_video", phase(timeline, official.vae_decode_video, ["video decode"], keep=list))
        patch("vae_decode_audio", phase(timeline, official.vae_decode_audio, ["audio decode"]))
        patch("cleanup_memory", phase(timeline, cleanup, itertools.repeat("cleanup_memory")))
        if device.type != "cuda":  # dry run only: __call__ synchronises CUDA directly
            stack.enter_context(mock.patch.object(torch.cuda, "synchronize", lambda *a: None))
        timeline.mark("setup")
        with torch.inference_mode():
            pipe(prompt="unused: contexts are fixed", seed=seed, height=bucket.height, width=bucket.width,
                 num_frames=bucket.frames, frame_rate=float(bucket.fps), images=[],
                 tiling_config=TilingConfig.default())
        timeline.mark(None)
    for hook in hooks:
        hook.remove()
    video, audio = VideoLatentPatchifier(patch_size=1), AudioPatchifier(patch_size=1)
    return {"phases": timeline.totals(), "steps": clock.seconds(),
            "latents": [video.patchify(latents[0][0].latent), audio.patchify(latents[0][1].latent),
                        video.patchify(latents[1][0].latent), audio.patchify(latents[1][1].latent)]}
