"""The sampler's arithmetic equals ltx-core / ltx-pipelines' own, bit for bit, on the CPU."""

from dataclasses import replace

import pytest
import torch

from ltx_trt.core.compat import install_torchaudio_placeholder
from ltx_trt.runtime import sampling

install_torchaudio_placeholder()
from ltx_core.components.diffusion_steps import EulerDiffusionStep  # noqa: E402
from ltx_core.components.noisers import GaussianNoiser  # noqa: E402
from ltx_core.types import LatentState  # noqa: E402
from ltx_core.utils import to_denoised  # noqa: E402


def test_distilled_schedules_are_ltx_pipelines_own():
    from ltx_pipelines.utils import constants

    stage1, stage2 = sampling.distilled_sigma_values()
    assert stage1 == (1.0, 0.99375, 0.9875, 0.98125, 0.975, 0.909375, 0.725, 0.421875, 0.0)
    assert stage2 == (0.909375, 0.725, 0.421875, 0.0)
    assert list(stage1) == constants.DISTILLED_SIGMA_VALUES and list(stage2) == constants.STAGE_2_DISTILLED_SIGMA_VALUES


def test_sigma_tables_are_float32_like_the_pipelines_tensor():
    stage1, _ = sampling.distilled_sigma_values()
    tables = sampling.sigma_tables(stage1, torch.device("cpu"))
    official = torch.Tensor(list(stage1))  # distilled.py: torch.Tensor(DISTILLED_SIGMA_VALUES)
    assert tables.sigmas.dtype == torch.float32 and torch.equal(tables.sigmas, official)
    assert torch.equal(tables.dts, torch.stack([official[i + 1] - official[i] for i in range(8)]))
    assert torch.equal(tables.divisors, official[:-1])
    assert torch.equal(sampling.velocity_divisors(official[:-1], torch.device("cuda")), 1.0 / official[:-1])


def test_sigma_tables_refuse_a_zero_sigma_before_the_end():
    with pytest.raises(ValueError):
        sampling.sigma_tables((1.0, 0.0, 0.0), torch.device("cpu"))


NO_GPU = "needs an NVIDIA GPU with CUDA (torch.cuda.is_available() is False on this machine)"
GPU = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_GPU)]


def _latent(shape, seed, dtype=torch.bfloat16, device="cpu"):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)).to(device, dtype)


@pytest.mark.parametrize("dtype, device", [
    (torch.bfloat16, "cpu"), (torch.float32, "cpu"),
    pytest.param(torch.bfloat16, "cuda", marks=GPU), pytest.param(torch.float32, "cuda", marks=GPU),
])
def test_x0_and_euler_step_match_ltx_core_for_every_step(dtype, device):
    # On CUDA this pins the reciprocal: ltx-core divides by a Python float, which CUDA turns into a
    # multiplication by its float32 reciprocal (sampling.velocity_divisors).
    sigmas = torch.Tensor(list(sampling.distilled_sigma_values()[0])).to(device)
    tables = sampling.sigma_tables(sigmas.tolist(), torch.device(device))
    x, ours = _latent((1, 40, 128), 1, dtype, device), _latent((1, 40, 128), 1, dtype, device)
    scratch, x0 = torch.zeros(1, 40, 128, device=device), torch.zeros(1, 40, 128, dtype=dtype, device=device)
    for i in range(len(sigmas) - 1):
        velocity = _latent((1, 40, 128), 10 + i, dtype, device)
        timesteps = torch.ones(1, 40, 1, device=device) * sigmas[i]  # official: denoise_mask (1, N, 1) x sigma
        denoised = to_denoised(x, velocity, timesteps)
        x = EulerDiffusionStep().step(x, denoised, sigmas, i)
        sampling.to_x0_(x0, ours, velocity, timesteps[..., 0], scratch)
        assert torch.equal(x0, denoised)
        sampling.euler_step_(ours, x0, tables.divisors[i:i + 1], tables.dts[i:i + 1], scratch,
                             reciprocal=device == "cuda")
        assert ours.dtype == dtype and torch.equal(ours, x), f"step {i}"


def test_noise_draw_and_noising_match_the_gaussian_noiser_order_and_dtype():
    seed, scale = 10, torch.tensor(0.909375)
    clean_v, clean_a = _latent((1, 24, 128), 2), _latent((1, 18, 128), 3)
    noiser = GaussianNoiser(torch.Generator().manual_seed(seed))
    official = []
    for clean in (clean_v, clean_a):  # video state first, then audio, one generator
        state = LatentState(latent=clean, denoise_mask=torch.ones(1, clean.shape[1], 1), positions=None,
                            clean_latent=clean)
        official.append(noiser(replace(state), scale).latent)
    generator = sampling.new_generator(seed, torch.device("cpu"))
    for clean, expected in zip((clean_v, clean_a), official):
        noise = sampling.draw_noise_(generator, torch.empty_like(clean))
        out = torch.empty_like(clean)
        sampling.noise_(out, noise, clean, scale.reshape(1))
        assert out.dtype == torch.bfloat16 and torch.equal(out, expected)


def test_stage_one_noising_of_an_empty_latent_is_the_noise_itself():
    noise = _latent((1, 8, 128), 4)
    out = torch.empty_like(noise)
    sampling.noise_(out, noise, None, torch.ones(1))
    assert torch.equal(out, noise)
