"""The distilled sampler's arithmetic, op for op as ltx-core / ltx-pipelines 1.0.0 do it.

Owns: the sigma schedules (read from ltx-pipelines), the noise draw, noising, the velocity -> x0
conversion and the Euler step, all writing into caller-owned buffers. Pure torch; must not import
model code at module level (the schedules' import of ltx-pipelines happens on first use).

Dtypes, as in the official code: sigmas, timesteps and every intermediate are float32; the latent
state, the noise and the engine I/O are in the latent dtype (bfloat16 in the official pipelines;
float32 for fp32 graphs, which is the official code run with dtype=float32). Rounding to the latent
dtype happens at exactly four points: the noised latent (`noise_`), x0 (`to_x0_`, like
`ltx_core.utils.to_denoised`), the Euler velocity and the stepped latent (`euler_step_`, like
`EulerDiffusionStep.step`). Beware `torch.sub(bf16, bf16, out=fp32)`: it computes in bf16, so the
fp32 scratch is always one of the operands here.
"""

import functools
from typing import NamedTuple

import torch


@functools.cache
def distilled_sigma_values() -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(stage 1, stage 2) sigmas of the distilled pipeline: 8 steps, then 3 steps from 0.909375.

    Read from ltx-pipelines itself. Its `utils` package imports ltx-core's model code (which wants
    torchaudio, absent on CPU machines: model.compat installs a placeholder), so this costs a few
    seconds once.
    """
    from ltx_trt.core.compat import install_torchaudio_placeholder

    install_torchaudio_placeholder()
    from ltx_pipelines.utils.constants import DISTILLED_SIGMA_VALUES, STAGE_2_DISTILLED_SIGMA_VALUES

    return tuple(DISTILLED_SIGMA_VALUES), tuple(STAGE_2_DISTILLED_SIGMA_VALUES)


def scheduler_sigma_values(steps: int) -> tuple[float, ...]:
    """The dev pipelines' stage-1 sigmas: ltx-core's LTX2Scheduler for `steps` steps (steps + 1 values,
    float32, ending at 0), as TI2VidTwoStagesPipeline asks for them (no latent: the default token count)."""
    from ltx_core.components.schedulers import LTX2Scheduler

    return tuple(LTX2Scheduler().execute(steps=steps).tolist())


class SigmaTables(NamedTuple):
    """A schedule as float32 device tables, indexed on the device by the step index."""

    sigmas: torch.Tensor  # (steps + 1,) float32, as `torch.Tensor(values)` in distilled.py
    dts: torch.Tensor  # (steps,) sigma[i+1] - sigma[i], float32 (EulerDiffusionStep's dt)
    divisors: torch.Tensor  # (steps,) sigma[i] on CPU, float32(1 / sigma[i]) on CUDA (see `velocity_divisors`)


def sigma_tables(values, device: torch.device) -> SigmaTables:
    sigmas = torch.tensor(values, dtype=torch.float32)
    if len(values) < 2 or bool((sigmas[:-1] == 0).any()):
        raise ValueError(f"a schedule needs at least two sigmas and no zero before the last: {values}")
    dts = sigmas[1:] - sigmas[:-1]
    divisors = velocity_divisors(sigmas[:-1], torch.device(device))
    return SigmaTables(sigmas.to(device), dts.to(device), divisors.to(device))


def velocity_divisors(sigmas: torch.Tensor, device: torch.device) -> torch.Tensor:
    """What `euler_step_` divides by (CPU) or multiplies with (CUDA), to match ltx-core bit for bit.

    `ltx_core.utils.to_velocity` divides by `sigma.item()`, a Python float. PyTorch's CPU kernel
    then divides; its CUDA kernel multiplies by the float32 reciprocal of a CPU scalar instead.
    """
    return 1.0 / sigmas if device.type == "cuda" else sigmas.clone()


def new_generator(seed: int, device: torch.device) -> torch.Generator:
    """One generator for the whole run, on the latents' device (CPU and CUDA streams differ)."""
    return torch.Generator(device=device).manual_seed(seed)


def draw_noise_(generator: torch.Generator, out: torch.Tensor) -> torch.Tensor:
    """Standard normal noise of out's (patchified) shape and dtype, as GaussianNoiser draws it."""
    return torch.randn(out.shape, generator=generator, out=out)


def noise_(out: torch.Tensor, noise: torch.Tensor, clean: torch.Tensor | None, scale: torch.Tensor) -> None:
    """out = noise * s + clean * (1 - s), float32, rounded to out's dtype (GaussianNoiser, mask 1).

    `scale` is a float32 tensor (the stage's first sigma: 1.0 for stage 1, 0.909375 for stage 2), or for a
    conditioned modality the (1, N, 1) denoise mask x that sigma, as GaussianNoiser's `scaled_mask`;
    `clean` None means zeros (stage 1 starts from an empty latent). Runs once per stage, before the
    loop, so its float32 temporaries are not part of the step.
    """
    mixed = noise.float() * scale
    # zeros * (1 - s) is +0.0 everywhere; adding it keeps the official sum's sign of zero
    mixed = mixed + (clean.float() * (1 - scale) if clean is not None else 0.0)
    out.copy_(mixed)


def to_x0_(x0: torch.Tensor, tokens: torch.Tensor, velocity: torch.Tensor, timesteps: torch.Tensor,
           scratch: torch.Tensor) -> None:
    """x0 = x - v * timesteps in float32, rounded to x0's dtype (X0Model / `to_denoised`).

    tokens, velocity, x0: (1, N, C) latent dtype; timesteps: (1, N) float32 = sigma x denoise mask;
    scratch: (1, N, C) float32.
    """
    scratch.copy_(velocity)
    scratch.mul_(timesteps.unsqueeze(-1))
    torch.sub(tokens, scratch, out=scratch)
    x0.copy_(scratch)


def euler_step_(tokens: torch.Tensor, x0: torch.Tensor, divisor: torch.Tensor, dt: torch.Tensor,
                scratch: torch.Tensor, reciprocal: bool) -> None:
    """tokens += v * dt with v = (x - x0) / sigma, as EulerDiffusionStep.step, in place.

    v is rounded to the latent dtype before use (to_velocity returns the sample's dtype); the sum is
    float32, rounded once at the end. x0's buffer holds v afterwards. divisor, dt: (1,) float32.
    """
    scratch.copy_(tokens)
    scratch.sub_(x0)
    if reciprocal:
        scratch.mul_(divisor)
    else:
        scratch.div_(divisor)
    x0.copy_(scratch)  # velocity, rounded to the latent dtype
    scratch.copy_(x0)
    scratch.mul_(dt)
    scratch.add_(tokens)  # v*dt + x == x + v*dt: one float32 addition either way
    tokens.copy_(scratch)
