"""ltx-trt's two distilled stages equal ltx-pipelines' own (denoise_audio_video + euler_denoising_loop
with X0Model) on the tiny LTX-2.3 transformer: same seeded random weights, contexts and seed.

Tolerance: none. Both sides run the same ltx-core modules on the same device with the same inputs
(the wrapper model.transformer_graph.TransformerGraph takes host RoPE tables that equal the
preprocessors' own), so the final latents are compared bit for bit, in fp32 and in bf16, on the CPU
and (GPU tier) on CUDA, eagerly and with the step replayed from a CUDA graph.
"""

import pytest
import torch

from ltx_trt.model import components
from ltx_trt.model.ltx23_config import tiny_config
from ltx_trt.model.synthetic import random_tensor
from ltx_trt.model.transformer_graph import TransformerGraph
from ltx_trt.runtime import rope, sampling, shapes
from ltx_trt.runtime.components import COMPONENTS
from ltx_trt.runtime.executors.pytorch import TorchExecutor
from ltx_trt.runtime.loop import denoise
from ltx_trt.runtime.plan import bucket_graphs
from ltx_trt.runtime.profiles import Bucket
from ltx_trt.runtime.step import Step

# ltx-pipelines imports ltx-core's audio VAE: after ltx_trt.model.components, which installs the
# torchaudio placeholder.
from ltx_core.components.diffusion_steps import EulerDiffusionStep  # noqa: E402
from ltx_core.components.noisers import GaussianNoiser  # noqa: E402
from ltx_core.components.patchifiers import AudioPatchifier, VideoLatentPatchifier  # noqa: E402
from ltx_core.model.transformer import X0Model  # noqa: E402
from ltx_core.types import VideoPixelShape  # noqa: E402
from ltx_pipelines.utils.helpers import denoise_audio_video, simple_denoising_func  # noqa: E402
from ltx_pipelines.utils.samplers import euler_denoising_loop  # noqa: E402
from ltx_pipelines.utils.types import PipelineComponents  # noqa: E402

SEED = 10
BUCKET = Bucket(name="tiny", width=256, height=128, frames=17, fps=24)  # stage 1: 3x2x4 tokens, stage 2: 3x4x8
PRECISION = {"bf16": torch.bfloat16, "fp32": torch.float32}


NO_GPU = "needs an NVIDIA GPU with CUDA (torch.cuda.is_available() is False on this machine)"
GPU = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_GPU)]


def _model(dtype: torch.dtype, device: torch.device) -> torch.nn.Module:
    model = components.transformer(tiny_config())
    model.load_state_dict({k: random_tensor(k, tuple(v.shape), seed=0) for k, v in model.state_dict().items()})
    return model.to(device, dtype).eval()


def _inputs(model, dtype, device):
    generator = torch.Generator().manual_seed(1)
    video_context = torch.randn(1, 1024, model.inner_dim, generator=generator).to(device, dtype)
    audio_context = torch.randn(1, 1024, model.audio_inner_dim, generator=generator).to(device, dtype)
    upsampled = torch.randn(1, 128, 3, 4, 8, generator=generator).to(device, dtype)  # stands in for the upsampler
    return video_context, audio_context, upsampled


def _official(model, dtype, device, video_context, audio_context, upsampled):
    stage1, stage2 = (torch.Tensor(list(s)).to(device) for s in sampling.distilled_sigma_values())
    noiser, stepper = GaussianNoiser(torch.Generator(device).manual_seed(SEED)), EulerDiffusionStep()
    parts = PipelineComponents(dtype=dtype, device=device)
    denoise_fn = simple_denoising_func(video_context, audio_context, X0Model(model))

    def loop(sigmas, video_state, audio_state, stepper):
        return euler_denoising_loop(sigmas, video_state, audio_state, stepper, denoise_fn)

    def stage(width, height, sigmas, **kwargs):
        shape = VideoPixelShape(batch=1, frames=BUCKET.frames, height=height, width=width, fps=BUCKET.fps)
        return denoise_audio_video(shape, [], noiser, sigmas, stepper, loop, parts, dtype, device, **kwargs)

    video1, audio1 = stage(BUCKET.width // 2, BUCKET.height // 2, stage1)
    video2, audio2 = stage(BUCKET.width, BUCKET.height, stage2, noise_scale=stage2[0], initial_video_latent=upsampled,
                           initial_audio_latent=audio1.latent)
    return [VideoLatentPatchifier(1).patchify(video1.latent), AudioPatchifier(1).patchify(audio1.latent),
            VideoLatentPatchifier(1).patchify(video2.latent), AudioPatchifier(1).patchify(audio2.latent)]


def _ltx_trt(model, precision, device, capture, video_context, audio_context, upsampled):
    dtype, config = PRECISION[precision], tiny_config()
    t = config["transformer"]
    dims = shapes.ModelDims(t["num_attention_heads"], t["attention_head_dim"], t["audio_num_attention_heads"],
                            t["audio_attention_head_dim"], t["audio_cross_attention_dim"], 64, 2)
    graphs = [g for g in bucket_graphs(BUCKET, dims, {c: precision for c in COMPONENTS})
              if g.component == "transformer"]
    executor = TorchExecutor({g.key: TransformerGraph(model).eval() for g in graphs})
    generator = sampling.new_generator(SEED, device)
    results, clean = [], {"video": None, "audio": None}
    for graph, sigmas in zip(graphs, sampling.distilled_sigma_values()):
        step = Step(graph, executor, sigmas, device)
        if capture:
            step.capture()  # before any input is set: the warm-up step runs on zeros
        step.inputs["video_context"].copy_(video_context)
        step.inputs["audio_context"].copy_(audio_context)
        tables = rope.rope_tables(rope.RopeConfig.from_config(config), graph.grid, BUCKET.fps, dtype, device)
        for name, table in tables.items():
            step.inputs[name].copy_(table)
        latents = denoise(step, generator, clean)
        results += [latents["video"].clone(), latents["audio"].clone()]
        clean = {"video": VideoLatentPatchifier(1).patchify(upsampled), "audio": results[-1]}
    return results


@pytest.mark.parametrize("precision, device, capture", [
    ("fp32", "cpu", False), ("bf16", "cpu", False),
    pytest.param("fp32", "cuda", False, marks=GPU), pytest.param("bf16", "cuda", False, marks=GPU),
    pytest.param("fp32", "cuda", True, marks=GPU), pytest.param("bf16", "cuda", True, marks=GPU),
])
def test_two_distilled_stages_equal_the_official_pipeline_bit_for_bit(precision, device, capture):
    device, dtype = torch.device(device), PRECISION[precision]
    model = _model(dtype, device)
    inputs = _inputs(model, dtype, device)
    with torch.no_grad():
        official = _official(model, dtype, device, *inputs)
    ours = _ltx_trt(model, precision, device, capture, *inputs)
    names = ["stage-1 video", "stage-1 audio", "stage-2 video", "stage-2 audio"]
    for name, a, b in zip(names, ours, official):
        assert a.shape == b.shape and a.dtype == b.dtype, name
        assert torch.equal(a, b), f"{name}: max |diff| {(a.float() - b.float()).abs().max().item()}"
    assert ours[2].float().std() > 0.1  # a real trajectory, not zeros
