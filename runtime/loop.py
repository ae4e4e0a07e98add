"""The denoising loop of one stage: noise the initial latents, then run every step.

Follows ltx-pipelines' `denoise_audio_video` + `euler_denoising_loop` for the distilled pipeline:
video noise is drawn before audio noise from the one generator of the run, both noised with the
stage's first sigma as the noise scale. Imports torch and ltx_trt.core / runtime only.
"""

from typing import Callable

import torch

from ltx_trt.core.components import MODALITIES
from ltx_trt.runtime import sampling
from ltx_trt.runtime.step import Step


def denoise(step: Step, generator: torch.Generator, clean: dict[str, torch.Tensor | None],
            progress: Callable[[int, int], None] | None = None,
            capture: Callable[[Step, int], None] | None = None) -> dict[str, torch.Tensor]:
    """Run one stage in place; returns the final (1, N, 128) latents (the step's own buffers).

    clean: per modality the (1, N, 128) latent to start from (stage 2: upsampled video, stage-1
    audio; conditioned: with the image tokens in place), or None for an empty latent (stage 1). Where the
    step is conditioned, the noise scale is the denoise mask x the stage's scale (GaussianNoiser). `capture(step, remaining)` is called after the first
    step, which runs eagerly: it may capture the step (runtime/capture.py) for the remaining ones.
    """
    scale = step.noise_scale  # 1.0 for stage 1, 0.909375 (the first sigma) for stage 2
    for m in MODALITIES:  # order matters: one generator, video first
        noise = sampling.draw_noise_(generator, step.x0[m])
        sampling.noise_(step.latent(m), noise, clean[m], scale if m not in step.masks else step.masks[m] * scale)
    step.reset()
    for i in range(step.num_steps):
        step()
        if i == 0 and capture is not None and step.graph is None:
            capture(step, step.num_steps - 1)
        if progress is not None:
            progress(i + 1, step.num_steps)
    return {m: step.latent(m) for m in MODALITIES}
