"""The guided stage 1 (runtime/guided.py GuidedStep over the batched guided graph) equals ltx-pipelines' own
loop (denoise_audio_video + euler_denoising_loop + multi_modal_guider_factory_denoising_func over X0Model,
one transformer call per pass) bit for bit, on the tiny transformer (seeded random bf16 weights, CPU),
for the official guidance, skip steps, and fewer passes than the graph's batch (padding rows)."""

import dataclasses
import json

import pytest
import torch

from ltx_trt.core import shapes
from ltx_trt.core.components import COMPONENTS
from ltx_trt.core.plan import bucket_graphs, profile_graphs
from ltx_trt.core.profiles import Bucket, load_profile, with_precision

from ltx_trt.model.graph_modules import component_model
from ltx_trt.model import transformer_parts
from ltx_trt.model.ltx23_config import tiny_config
from ltx_trt.runtime import chain, rope, sampling
from ltx_trt.runtime.executors.onnxruntime import OnnxRuntimeExecutor
from ltx_trt.runtime.executors.pytorch import TorchExecutor
from ltx_trt.runtime.guided import GuidedStep, Guiders
from ltx_trt.runtime.loop import denoise
from tests.reference import RELATIVE_L2, relative_l2
from tests.runtime.test_sampler_parity import _model, tiny_rtx4090  # noqa: F401  (the seeded tiny transformer;
#                                                                     the bf16 transformer export, a fixture)

from ltx_core.components.diffusion_steps import EulerDiffusionStep  # noqa: E402  (after ltx_trt.model)
from ltx_core.components.guiders import create_multimodal_guider_factory  # noqa: E402
from ltx_core.components.noisers import GaussianNoiser  # noqa: E402
from ltx_core.components.patchifiers import AudioPatchifier, VideoLatentPatchifier  # noqa: E402
from ltx_core.model.transformer import X0Model  # noqa: E402
from ltx_core.types import VideoPixelShape  # noqa: E402
from ltx_pipelines.utils.constants import LTX_2_3_PARAMS  # noqa: E402
from ltx_pipelines.utils.helpers import denoise_audio_video, multi_modal_guider_factory_denoising_func  # noqa: E402
from ltx_pipelines.utils.samplers import euler_denoising_loop  # noqa: E402
from ltx_pipelines.utils.types import PipelineComponents  # noqa: E402

SEED, BUCKET, DTYPE, CPU = 10, Bucket("tiny", width=256, height=128, frames=17, fps=24), torch.bfloat16, torch.device("cpu")
CASES = {  # official LTX-2.3 values with STG on the tiny model's last block, then variations
    "official": {},
    "skip every other step": {"skip_step": 1},
    "two passes in a batch of four": {"cfg_scale": 1.0, "stg_scale": 0.0},
}


@pytest.fixture(scope="module")
def model():
    return _model(DTYPE, CPU)


def _contexts(model):
    generator = torch.Generator().manual_seed(1)
    return [{"video_context": torch.randn(1, 1024, model.inner_dim, generator=generator).to(DTYPE),
             "audio_context": torch.randn(1, 1024, model.audio_inner_dim, generator=generator).to(DTYPE)}
            for _ in range(2)]


def _official(model, params, sigmas, positive, negative, bucket=BUCKET):
    factories = [create_multimodal_guider_factory(p, negative[f"{m}_context"]) for p, m in zip(params, ("video", "audio"))]
    denoise_fn = multi_modal_guider_factory_denoising_func(*factories, positive["video_context"],
                                                           positive["audio_context"], X0Model(model))
    shape = VideoPixelShape(batch=1, frames=bucket.frames, height=bucket.height // 2, width=bucket.width // 2,
                            fps=bucket.fps)
    noiser = GaussianNoiser(torch.Generator(CPU).manual_seed(SEED))
    with torch.no_grad():
        video, audio = denoise_audio_video(shape, [], noiser, torch.tensor(sigmas), EulerDiffusionStep(),
                                           lambda s, v, a, st: euler_denoising_loop(s, v, a, st, denoise_fn),
                                           PipelineComponents(dtype=DTYPE, device=CPU), DTYPE, CPU)
    return VideoLatentPatchifier(1).patchify(video.latent), AudioPatchifier(1).patchify(audio.latent)


def _ours(model, params, sigmas, positive, negative):
    config = tiny_config()
    t = config["transformer"]
    dims = shapes.ModelDims(t["num_attention_heads"], t["attention_head_dim"], t["audio_num_attention_heads"],
                            t["audio_attention_head_dim"], t["audio_cross_attention_dim"], 64, 2,
                            transformer_parts.weight_layout(model))
    graph = next(g for g in bucket_graphs(BUCKET, dims, {c: "bf16" for c in COMPONENTS})
                 if g.key.endswith(".guided4"))
    executor = chain.block_chain(TorchExecutor(transformer_parts.part_modules(config, [graph])), [graph],
                                 dims.transformer, transformer_parts.model_reader(model), DTYPE, CPU)
    return _guided_stage(executor, graph, config, BUCKET, params, sigmas, positive, negative)


def _guided_stage(executor, graph, config, bucket, params, sigmas, positive, negative):
    """GuidedStep over `executor` (a chain holding `graph`) for one stage from noise: video, audio, the step."""
    step = GuidedStep(graph, executor, sigmas, CPU, Guiders.of(*params))
    for name, table in rope.rope_tables(rope.RopeConfig.from_config(config), graph.grid, bucket.fps, DTYPE,
                                        CPU).items():
        step.inputs[name].copy_(table)
    step.set_contexts(positive, negative)
    with torch.no_grad():
        out = denoise(step, sampling.new_generator(SEED, CPU), {"video": None, "audio": None})
    return out["video"], out["audio"], step


@pytest.mark.parametrize("case", CASES)
def test_the_guided_stage_equals_ltx_pipelines_one_call_per_pass_bit_for_bit(model, case):
    params = [dataclasses.replace(p, stg_blocks=[1], **CASES[case])
              for p in (LTX_2_3_PARAMS.video_guider_params, LTX_2_3_PARAMS.audio_guider_params)]
    sigmas = sampling.scheduler_sigma_values(4)
    positive, negative = _contexts(model)
    official = _official(model, params, sigmas, positive, negative)
    *ours, step = _ours(model, params, sigmas, positive, negative)
    for name, a, b in zip(("video", "audio"), ours, official):
        assert torch.equal(a, b), f"{case}, {name}: max |diff| {(a.float() - b.float()).abs().max().item()}"
    assert ours[0].float().std() > 0.1
    assert len(step.rows) == (2 if "two passes" in case else 4) and step.capturable == (case != "skip every other step")


def test_the_guided_stage_through_onnx_runtime_is_within_bf16_of_the_official_passes(tiny_rtx4090):
    """The exported guided4 graph (bf16 transformer, the rtx4090 profile's first bucket) through ONNX Runtime,
    weights from the tiny checkpoint as `run` reads them, against ltx-pipelines' loop on ltx-core's model."""
    onnx_folder, files, bucket, _ = tiny_rtx4090
    profile = with_precision(load_profile("rtx4090"), {"transformer": "bf16"})
    graph = next(g for g in profile_graphs(profile, files.dims) if g.key == f"transformer.{bucket.name}.guided4")
    model = component_model("transformer").build(files, DTYPE)
    params = [dataclasses.replace(p, stg_blocks=[1])
              for p in (LTX_2_3_PARAMS.video_guider_params, LTX_2_3_PARAMS.audio_guider_params)]
    sigmas, (positive, negative) = sampling.scheduler_sigma_values(3), _contexts(model)
    official = _official(model, params, sigmas, positive, negative, bucket)
    inner = OnnxRuntimeExecutor(onnx_folder, json.loads((onnx_folder / "manifest.json").read_text()))
    executor = chain.block_chain(inner, [graph], files.dims.transformer,
                                 transformer_parts.checkpoint_reader(files.checkpoint), DTYPE, CPU)
    *ours, _ = _guided_stage(executor, graph, files.config, bucket, params, sigmas, positive, negative)
    errors = {name: relative_l2(a.float(), b.float()) for name, a, b in zip(("video", "audio"), ours, official)}
    print(f"onnxruntime guided stage 1, relative L2: {errors}")
    for name, error in errors.items():
        assert error <= RELATIVE_L2["bf16 guided"], f"{name}: relative L2 {error:.2e}"
    assert ours[0].float().std() > 0.1
