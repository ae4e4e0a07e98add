"""Each profile's default precision on the tiny model: the torch executor and ONNX Runtime (the exported
Q/DQ graphs) run the same quantized math, and the result stays near the bf16 pipeline's.

Two distilled stages, as test_sampler_parity runs them, on the tiny model exported by the session fixture
(rtx4090: FP8 W8A8 with the fixture's calibration; rtx3060: INT4 weight-only; rtx5090 with
`--precision transformer=nvfp4`: the torch reference only), against the official bf16 pipeline on the
same checkpoint. Tolerances: tests/reference.py RELATIVE_L2, docs/DESIGN.md.
"""

import json

import pytest
import torch

from ltx_trt.core.calibration import FILE, calibration_dir
from ltx_trt.core.plan import profile_graphs
from ltx_trt.core.profiles import load_profile, with_precision
from ltx_trt.core.source import tiny_source
from ltx_trt.model import transformer_parts
from ltx_trt.model.files import ModelFiles
from ltx_trt.model.graph_modules import component_model
from ltx_trt.model.quantized_weights import amax_reader, graph_reader
from ltx_trt.runtime import chain
from ltx_trt.runtime.executors.onnxruntime import OnnxRuntimeExecutor
from ltx_trt.runtime.executors.pytorch import TorchExecutor
from test_sampler_parity import _official, _two_stages
from tests.reference import RELATIVE_L2, relative_l2

NAMES = ["stage-1 video", "stage-1 audio", "stage-2 video", "stage-2 audio"]


def _run(artifacts, profile, files, graphs, kind, inputs):
    bucket = profile.buckets[0]
    layout = graphs[0].weights
    amax = amax_reader(calibration_dir(artifacts, "tiny") / FILE) if layout.quantization.format != "int4" else None
    read = graph_reader(transformer_parts.checkpoint_reader(files.checkpoint), layout, None, torch.bfloat16, amax)
    if kind == "torch":
        inner = TorchExecutor(transformer_parts.part_modules(files.config, graphs))
    else:
        folder = artifacts / "tiny" / profile.folder / "onnx"
        inner = OnnxRuntimeExecutor(folder, json.loads((folder / "manifest.json").read_text()))
    executor = chain.block_chain(inner, graphs, layout, read, torch.bfloat16, torch.device("cpu"))
    return _two_stages(executor, graphs, files.config, bucket, torch.device("cpu"), False, *inputs)


@pytest.mark.parametrize("profile_name, precision, kinds", [
    ("rtx4090", "fp8", ("torch", "onnxruntime")), ("rtx3060", "int4", ("torch", "onnxruntime")),
    ("rtx5090", "nvfp4", ("torch",)),  # ONNX Runtime has no FP4 kernels: the torch reference alone
])
def test_quantized_executors_agree_and_stay_near_bf16(tiny_export, profile_name, precision, kinds):
    artifacts = tiny_export("rtx4090" if precision == "nvfp4" else profile_name)  # nvfp4: weights + calibration
    profile = with_precision(load_profile(profile_name), {"transformer": precision})
    files = ModelFiles(tiny_source(artifacts))
    bucket = profile.buckets[0]
    graphs = [g for g in profile_graphs(profile, files.dims)
              if g.key in (f"transformer.{bucket.name}.stage1", f"transformer.{bucket.name}.stage2")]
    model = component_model("transformer").build(files, torch.bfloat16)
    generator = torch.Generator().manual_seed(1)
    full = graphs[1].grid
    inputs = (torch.randn(1, 1024, model.inner_dim, generator=generator).bfloat16(),
              torch.randn(1, 1024, model.audio_inner_dim, generator=generator).bfloat16(),
              torch.randn(1, 128, full.frames, full.height, full.width, generator=generator).bfloat16())
    with torch.no_grad():
        bf16 = _official(model, torch.bfloat16, torch.device("cpu"), *inputs, bucket=bucket)
    ours = {kind: _run(artifacts, profile, files, graphs, kind, inputs) for kind in kinds}
    for i, (name, reference) in enumerate(zip(NAMES, bf16)):
        quality = relative_l2(ours["torch"][i].float(), reference.float())
        print(f"{precision} {name}: vs bf16 {quality:.2e}")
        assert quality <= RELATIVE_L2[f"{precision} vs bf16"], name
        if "onnxruntime" in ours:
            executors = relative_l2(ours["onnxruntime"][i].float(), ours["torch"][i].float())
            print(f"{precision} {name}: onnxruntime vs torch {executors:.2e}")
            assert executors <= RELATIVE_L2[precision], name
    assert ours["torch"][2].float().std() > 0.1  # a real trajectory
