"""ltx-trt's two distilled stages equal ltx-pipelines' own (denoise_audio_video + euler_denoising_loop
with X0Model) on the tiny LTX-2.3 transformer: same seeded random weights, contexts and seed.

Tolerance: none. Both sides run the same ltx-core modules on the same device with the same inputs
(ltx-trt's transformer is ltx-core's pre-processing, blocks and output head chained as three parts,
runtime/chain.py, with host RoPE tables that equal the preprocessors' own), so the final latents are
compared bit for bit, in fp32 and in bf16, on the CPU
and (GPU tier) on CUDA, eagerly and with the step replayed from a CUDA graph.
"""

import json

import pytest
import torch

from ltx_trt.core import shapes
from ltx_trt.core.components import COMPONENTS
from ltx_trt.core.plan import bucket_graphs
from ltx_trt.core.profiles import Bucket
from ltx_trt.model import components
from ltx_trt.model import transformer_parts
from ltx_trt.model.graph_modules import component_model
from ltx_trt.model.ltx23_config import tiny_config
from ltx_trt.model.synthetic import random_tensor
from ltx_trt.runtime import chain
from ltx_trt.runtime import rope, sampling
from ltx_trt.runtime.executors.onnxruntime import OnnxRuntimeExecutor
from ltx_trt.runtime.executors.pytorch import TorchExecutor
from ltx_trt.runtime.capture import Captures
from ltx_trt.runtime.loop import denoise
from ltx_trt.runtime.step import Step
from tests.reference import relative_l2
from tests.reference import RELATIVE_L2

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


def _official(model, dtype, device, video_context, audio_context, upsampled, bucket=BUCKET):
    stage1, stage2 = (torch.Tensor(list(s)).to(device) for s in sampling.distilled_sigma_values())
    noiser, stepper = GaussianNoiser(torch.Generator(device).manual_seed(SEED)), EulerDiffusionStep()
    parts = PipelineComponents(dtype=dtype, device=device)
    denoise_fn = simple_denoising_func(video_context, audio_context, X0Model(model))

    def loop(sigmas, video_state, audio_state, stepper):
        return euler_denoising_loop(sigmas, video_state, audio_state, stepper, denoise_fn)

    def stage(width, height, sigmas, **kwargs):
        shape = VideoPixelShape(batch=1, frames=bucket.frames, height=height, width=width, fps=bucket.fps)
        return denoise_audio_video(shape, [], noiser, sigmas, stepper, loop, parts, dtype, device, **kwargs)

    video1, audio1 = stage(bucket.width // 2, bucket.height // 2, stage1)
    video2, audio2 = stage(bucket.width, bucket.height, stage2, noise_scale=stage2[0], initial_video_latent=upsampled,
                           initial_audio_latent=audio1.latent)
    return [VideoLatentPatchifier(1).patchify(video1.latent), AudioPatchifier(1).patchify(audio1.latent),
            VideoLatentPatchifier(1).patchify(video2.latent), AudioPatchifier(1).patchify(audio2.latent)]


def _ltx_trt(model, precision, device, capture, video_context, audio_context, upsampled):
    config = tiny_config()
    t = config["transformer"]
    dims = shapes.ModelDims(t["num_attention_heads"], t["attention_head_dim"], t["audio_num_attention_heads"],
                            t["audio_attention_head_dim"], t["audio_cross_attention_dim"], 64, 2,
                            transformer_parts.weight_layout(model))
    graphs = [g for g in bucket_graphs(BUCKET, dims, {c: precision for c in COMPONENTS})
              if g.component == "transformer"]
    inner = TorchExecutor(transformer_parts.part_modules(config, graphs))
    executor = chain.block_chain(inner, graphs, dims.transformer, transformer_parts.model_reader(model),
                                             PRECISION[precision], device)
    return _two_stages(executor, graphs, config, BUCKET, device, capture, video_context, audio_context, upsampled)


def _two_stages(executor, graphs, config, bucket, device, capture, video_context, audio_context, upsampled):
    """Stage 1 then stage 2 through `executor`, as runtime.pipeline.generate runs them; the four latents."""
    generator = sampling.new_generator(SEED, device)
    results, clean = [], {"video": None, "audio": None}
    captures = Captures(device, lambda line: None, decide=lambda tokens, left: True) if capture else None  # both
    for graph, sigmas in zip(graphs, sampling.distilled_sigma_values()):
        step = Step(graph, executor, sigmas, device, noise_scale=1.0 if clean["video"] is None else None)
        step.inputs["video_context"].copy_(video_context)
        step.inputs["audio_context"].copy_(audio_context)
        dtype = step.inputs["video_rope_cos"].dtype
        tables = rope.rope_tables(rope.RopeConfig.from_config(config), graph.grid, bucket.fps, dtype, device)
        for name, table in tables.items():
            step.inputs[name].copy_(table)
        latents = denoise(step, generator, clean, None, captures)
        assert not capture or step.graph is not None
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


# The executors `ltx-trt run` uses, on the artifacts it reads: the tiny model's transformer exported for
# rtx4090 in bf16 (`--precision transformer=bf16`; its first bucket, 768x512x121: 1,536 then 6,144 video
# tokens), against ltx-pipelines' functions run on the ltx-core transformer built from the same
# checkpoint, in bf16.
#   torch: the transformer's parts on ltx-core modules, as run's torch executor builds them: bit for bit.
#   onnxruntime: the exported bf16 graph, converted to fp32 for ORT's CPU provider, with bf16 latents
#   between steps: relative L2 below RELATIVE_L2["bf16"] (fp32 arithmetic inside the graph vs bf16).
EXECUTOR_TOLERANCE = {"torch": 0.0, "onnxruntime": RELATIVE_L2["bf16"]}
BF16_TRANSFORMER = ("--precision", "transformer=bf16", "--component", "transformer")


@pytest.fixture(scope="module")
def tiny_rtx4090(tiny_export):
    from ltx_trt.model.files import ModelFiles
    from ltx_trt.core.plan import profile_graphs
    from ltx_trt.core.profiles import load_profile, with_precision
    from ltx_trt.core.source import tiny_source

    artifacts = tiny_export("rtx4090", *BF16_TRANSFORMER)
    profile = with_precision(load_profile("rtx4090"), {"transformer": "bf16"})
    files = ModelFiles(tiny_source(artifacts))
    bucket = profile.buckets[0]
    graphs = [g for g in profile_graphs(profile, files.dims)
              if g.key in (f"transformer.{bucket.name}.stage1", f"transformer.{bucket.name}.stage2")]
    return artifacts / "tiny" / profile.folder / "onnx", files, bucket, graphs


def _executor(kind, files, graphs, onnx_folder):
    """The transformer's chain over the executor `run` would use, weights from the checkpoint as run reads them."""
    if kind == "torch":
        inner = TorchExecutor(transformer_parts.part_modules(files.config, graphs))
    else:
        inner = OnnxRuntimeExecutor(onnx_folder, json.loads((onnx_folder / "manifest.json").read_text()))
    return chain.block_chain(inner, graphs, files.dims.transformer,
                                         transformer_parts.checkpoint_reader(files.checkpoint), torch.bfloat16,
                                         torch.device("cpu"))


@pytest.mark.parametrize("kind", ["torch", "onnxruntime"])
def test_run_executors_on_the_exported_tiny_model_match_the_official_pipeline(tiny_rtx4090, kind):
    onnx_folder, files, bucket, graphs = tiny_rtx4090
    device = torch.device("cpu")
    model = component_model("transformer").build(files, torch.bfloat16)
    generator = torch.Generator().manual_seed(1)
    video_context = torch.randn(1, 1024, model.inner_dim, generator=generator).bfloat16()
    audio_context = torch.randn(1, 1024, model.audio_inner_dim, generator=generator).bfloat16()
    full = graphs[1].grid
    upsampled = torch.randn(1, 128, full.frames, full.height, full.width, generator=generator).bfloat16()
    with torch.no_grad():
        official = _official(model, torch.bfloat16, device, video_context, audio_context, upsampled, bucket)
    ours = _two_stages(_executor(kind, files, graphs, onnx_folder), graphs, files.config, bucket, device, False,
                       video_context, audio_context, upsampled)
    names = ["stage-1 video", "stage-1 audio", "stage-2 video", "stage-2 audio"]
    for name, a, b in zip(names, ours, official):
        assert a.shape == b.shape and a.dtype == b.dtype, name
        error = relative_l2(a.float(), b.float())
        assert error <= EXECUTOR_TOLERANCE[kind], f"{name}: relative L2 {error:.2e}"
        print(f"{kind} {name}: relative L2 {error:.2e}")
    assert ours[2].float().std() > 0.1  # a real trajectory, not zeros
