"""The stage-1 loop through ONNX Runtime on an exported bf16 tiny transformer (weights hard-linked from the
checkpoint, converted to fp32 for the CPU provider) agrees with the same loop through PyTorch in bf16.

Tolerance: runtime.tolerances RELATIVE_L2["bf16"]: ORT computes the converted graph in fp32, PyTorch in
bf16, so the two trajectories differ by bf16 rounding.
"""

import pytest
import torch

from ltx_trt.export import onnx_export
from ltx_trt.export.reference import relative_l2
from ltx_trt.model import transformer_graph
from ltx_trt.runtime import rope, sampling
from ltx_trt.runtime.components import COMPONENTS
from ltx_trt.runtime.executors.onnxruntime import OnnxRuntimeExecutor
from ltx_trt.runtime.executors.pytorch import TorchExecutor
from ltx_trt.runtime.loop import denoise
from ltx_trt.runtime.plan import bucket_graphs
from ltx_trt.runtime.profiles import Bucket
from ltx_trt.runtime.step import Step
from ltx_trt.runtime.tolerances import RELATIVE_L2

SMALL = Bucket("small", width=128, height=64, frames=17, fps=24)  # stage 1: 3x1x2 latent, 18 audio tokens


@pytest.fixture(scope="module")
def exported(tiny_ltx_files, tmp_path_factory):
    """(graph, ONNX folder, bf16 wrapper) for the stage-1 transformer of a synthetic tiny checkpoint."""
    files, folder = tiny_ltx_files, tmp_path_factory.mktemp("ort-loop")
    graph = bucket_graphs(SMALL, files.dims, {c: "bf16" for c in COMPONENTS})[0]
    wrapper = transformer_graph.wrap(transformer_graph.build(files, torch.bfloat16), graph)
    example = transformer_graph.example_inputs(wrapper.velocity_model, graph, seed=0)
    model = onnx_export.trace(wrapper, example, graph, transformer_graph.export_overrides)
    (folder / "onnx").mkdir()
    onnx_export.save(model, wrapper, folder / "onnx", graph.key)
    return graph, folder / "onnx", wrapper, files.config


def _stage_one(graph, executor, config) -> dict[str, torch.Tensor]:
    step = Step(graph, executor, sampling.distilled_sigma_values()[0], torch.device("cpu"))
    generator = torch.Generator().manual_seed(5)
    for name in ("video_context", "audio_context"):
        step.inputs[name].copy_(torch.randn(step.inputs[name].shape, generator=generator))
    tables = rope.rope_tables(rope.RopeConfig.from_config(config), graph.grid, SMALL.fps, torch.bfloat16,
                              torch.device("cpu"))
    for name, table in tables.items():
        step.inputs[name].copy_(table)
    latents = denoise(step, sampling.new_generator(10, torch.device("cpu")), {"video": None, "audio": None})
    return {m: t.clone() for m, t in latents.items()}


def test_stage_one_through_onnxruntime_matches_pytorch(exported):
    graph, onnx_dir, wrapper, config = exported
    manifest = {"graphs": {graph.key: {"file": f"{graph.key}.onnx", "precision": "bf16"}}}
    through_ort = _stage_one(graph, OnnxRuntimeExecutor(onnx_dir, manifest), config)
    through_torch = _stage_one(graph, TorchExecutor({graph.key: wrapper}), config)
    for m in ("video", "audio"):
        assert relative_l2(through_ort[m].float(), through_torch[m].float()) < RELATIVE_L2["bf16"], m
