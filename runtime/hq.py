"""The hq pipeline's stages: ltx-pipelines' own res_2s loop over our transformer graphs.

TI2VidTwoStagesHQPipeline runs `denoise_audio_video` with `res2s_audio_video_denoising_loop` and ltx-core's
Res2sDiffusionStep; those are called here as they are, float64 math, SDE noise generators and all. Ours is
only the denoise function they call: `Denoiser` writes the loop's latents and sigma into a Step's buffers,
runs its graph (stage 1: every guidance pass in one batch, GuidedStep.guide; stage 2: the batch-1 graph,
unguided) and hands back the (1, N, C) x0. Host-side control flow, so no CUDA graphs. Imports torch,
ltx-core / ltx-pipelines (on first use) and runtime only.
"""

from typing import Callable

import torch

from ltx_trt.core.components import MODALITIES
from ltx_trt.core.shapes import Grid
from ltx_trt.runtime import sampling
from ltx_trt.runtime.guided import GuidedStep
from ltx_trt.runtime.step import Step


def stage1_sigma_values(steps: int, grid: Grid) -> tuple[float, ...]:
    """hq's stage-1 sigmas: LTX2Scheduler shifted for the stage-1 latent's token count, as the official
    pipeline asks for them (`execute(latent=empty_latent, ...)`; two-stage passes no latent)."""
    from ltx_core.components.schedulers import LTX2Scheduler

    return tuple(LTX2Scheduler().execute(steps=steps, default_number_of_tokens=grid.video_tokens).tolist())


def graph_sigma(sigma: torch.Tensor, multiplier: float) -> torch.Tensor:
    """The float32 `<modality>_sigma` input for the loop's sigma.

    The graphs take sigma in float32 and scale it (x `timestep_scale_multiplier`) in float32. The loop's
    midpoint sigma is float64, which ltx-core scales in float64 before its timestep embeddings round it
    to float32. So pick the float32 nearest sigma whose float32-scaled value equals that rounding (one
    exists next to it except in rare corners, where the nearest float32 is kept).
    """
    nearest = sigma.to(torch.float32)
    if sigma.dtype == torch.float32:
        return nearest
    target = (sigma * multiplier).to(torch.float32)
    candidate = nearest.clone()
    for _ in range(4):  # the scaled value moves by about one float32 step per candidate step
        scaled = candidate * multiplier
        if scaled == target:
            return candidate
        candidate = torch.nextafter(candidate, candidate + (1 if scaled < target else -1))
    return nearest


class Denoiser:
    """The `denoise_fn` of ltx-pipelines' loops over one of our steps: (video_state, audio_state, sigmas,
    step_index) -> (denoised video, denoised audio), each (1, N, C) in the latent dtype.

    Stage 1 (a GuidedStep) as `multi_modal_guider_denoising_func`: skip steps return the last x0; stage 2
    (a plain Step) as `simple_denoising_func`. `progress(step, steps)` after each full res_2s step (two
    evaluations; the last step also takes the loop's final evaluation at sigma 0.0011).
    """

    def __init__(self, step: Step, multiplier: float, progress: Callable[[int, int], None] | None,
                 positions: Callable[[torch.Tensor], None] | None = None) -> None:
        self.step, self.multiplier, self.progress = step, multiplier, progress
        self.positions = positions  # called once with the video state's positions (appended keyframes' RoPE)
        self.calls = 0

    def __call__(self, video_state, audio_state, sigmas: torch.Tensor, step_index: int):
        step = self.step
        if self.positions is not None and self.calls == 0:
            self.positions(video_state.positions)
        guided = isinstance(step, GuidedStep)
        if guided and step.guiders.skips(step_index):
            out = tuple(step.last_x0[m].clone() for m in MODALITIES)
        else:
            sigma = sigmas[step_index]
            scaled = graph_sigma(sigma, self.multiplier)
            for m, state in zip(MODALITIES, (video_state, audio_state)):
                step.inputs[f"{m}_sigma"].copy_(scaled.expand_as(step.inputs[f"{m}_sigma"]))
                timesteps = step.inputs[f"{m}_timesteps"]  # (batch, N) float32: denoise mask x sigma
                timesteps.copy_((state.denoise_mask * sigma).reshape(1, -1).expand_as(timesteps))
                step.latent(m).copy_(state.latent)
            step.guide() if guided else self._unguided()
            out = tuple(step.x0[m].clone() for m in MODALITIES)
        self._report()
        return out

    def _unguided(self) -> None:
        """The batch-1 graph once, its velocities -> x0 (Step's buffers; the state is its token input)."""
        step = self.step
        step.executor.run(step.graph_key, step.inputs, step.outputs)
        for m in MODALITIES:
            sampling.to_x0_(step.x0[m], step.inputs[f"{m}_tokens"], step.outputs[f"{m}_velocity"],
                            step.inputs[f"{m}_timesteps"], step.scratch[m])

    def _report(self) -> None:
        self.calls += 1
        steps = self.step.num_steps
        last = 2 * steps + 1  # sigmas end at 0: the loop ends with one more evaluation
        if self.progress is not None and (self.calls % 2 == 0 and self.calls < 2 * steps or self.calls == last):
            self.progress(min(self.calls // 2, steps), steps)


def res2s_denoise(step: Step, generator: torch.Generator, clean: dict[str, torch.Tensor | None], *, fps: int,
                  multiplier: float, progress: Callable[[int, int], None] | None = None,
                  conditionings: list = (), positions: Callable[[torch.Tensor], None] | None = None
                  ) -> dict[str, torch.Tensor]:
    """One hq stage as TI2VidTwoStagesHQPipeline runs it: `denoise_audio_video` (noise from the run's
    generator, video first, scaled by the stage's noise scale) with the res_2s loop and Res2sDiffusionStep;
    returns the final (1, N, 128) latents. clean: as loop.denoise's (None: an empty latent); conditionings:
    the stage's ltx-core conditioning items (runtime/conditioning.py), applied by the official code; `positions`:
    called with the conditioned video state's positions before the first evaluation (keyframes' RoPE tables)."""
    from ltx_trt.core.compat import install_torchaudio_placeholder

    install_torchaudio_placeholder()
    from ltx_core.components.diffusion_steps import Res2sDiffusionStep
    from ltx_core.components.noisers import GaussianNoiser
    from ltx_core.types import VideoPixelShape
    from ltx_pipelines.utils import denoise_audio_video, res2s_audio_video_denoising_loop
    from ltx_pipelines.utils.types import PipelineComponents

    grid, dtype, device = step.grid, step.latent("video").dtype, step.device
    denoiser = Denoiser(step, multiplier, progress, positions)

    def loop(sigmas, video_state, audio_state, stepper):
        return res2s_audio_video_denoising_loop(sigmas=sigmas, video_state=video_state, audio_state=audio_state,
                                                stepper=stepper, denoise_fn=denoiser, model_dtype=dtype)

    shape = VideoPixelShape(batch=1, frames=(grid.frames - 1) * 8 + 1, width=grid.width * 32,
                            height=grid.height * 32, fps=float(fps))
    initial = _unpatchified(clean, grid)
    video, audio = denoise_audio_video(
        output_shape=shape, conditionings=list(conditionings), noiser=GaussianNoiser(generator=generator),
        sigmas=step.tables.sigmas.clone(), stepper=Res2sDiffusionStep(), denoising_loop_fn=loop,
        components=PipelineComponents(dtype=dtype, device=device), dtype=dtype, device=device,
        noise_scale=step.noise_scale[0], initial_video_latent=initial["video"], initial_audio_latent=initial["audio"])
    from ltx_core.components.patchifiers import AudioPatchifier, VideoLatentPatchifier

    return {"video": VideoLatentPatchifier(patch_size=1).patchify(video.latent),
            "audio": AudioPatchifier(patch_size=1).patchify(audio.latent)}


def _unpatchified(clean: dict[str, torch.Tensor | None], grid: Grid) -> dict[str, torch.Tensor | None]:
    """(1, N, 128) tokens -> (1, 128, F, H, W) video / (1, 8, T, 16) audio, as denoise_audio_video takes them."""
    from ltx_core.components.patchifiers import AudioPatchifier, VideoLatentPatchifier
    from ltx_core.types import AudioLatentShape, VideoLatentShape

    shapes = {"video": VideoLatentShape(1, 128, grid.frames, grid.height, grid.width),
              "audio": AudioLatentShape(1, 8, grid.audio_tokens, 16)}
    patchifiers = {"video": VideoLatentPatchifier(1), "audio": AudioPatchifier(1)}
    return {m: None if t is None else patchifiers[m].unpatchify(t, output_shape=shapes[m]) for m, t in clean.items()}
