"""The transformer as chained parts: pre -> blocks -> post == the unmodified ltx-core forward (torch,
bit for bit; exported ONNX through ONNX Runtime, within the fp32 tolerance); overrides == what they
replace; the exported parts hold no weights (every parameter is a `weight.*` input)."""


import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from ltx_core.guidance.perturbations import BatchedPerturbationConfig
from ltx_core.model.transformer import rope as ltx_rope
from ltx_core.model.transformer.modality import Modality

from ltx_trt.core.components import COMPONENTS
from ltx_trt.core.plan import bucket_graphs
from ltx_trt.core.profiles import Bucket
from ltx_trt.core.shapes import WEIGHT_PREFIX
from ltx_trt.export import onnx_export
from ltx_trt.export.checks import check_graph
from ltx_trt.model import transformer_graph, transformer_parts
from ltx_trt.runtime import chain
from ltx_trt.runtime.executors import allocate
from ltx_trt.runtime.executors.onnxruntime import OnnxRuntimeExecutor
from ltx_trt.runtime.executors.pytorch import TorchExecutor
from tests.reference import relative_l2
from tests.reference import RELATIVE_L2

SMALL = Bucket("small", width=128, height=64, frames=17, fps=24)  # stage 1: 3x1x2 latent, 18 audio tokens
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


@pytest.fixture(scope="module")
def files(tiny_ltx_files):
    return tiny_ltx_files


def _graph(files, precision):
    precision = {c: precision for c in COMPONENTS}
    return bucket_graphs(SMALL, files.dims, precision)[1]  # stage 2: 3x2x4 latent


def _logical_inputs(model, graph, dtype, seed):
    generator = torch.Generator().manual_seed(seed)
    inputs = allocate(graph.inputs, "cpu")
    for name in ("video_tokens", "audio_tokens", "video_context", "audio_context"):
        inputs[name].copy_(torch.randn(inputs[name].shape, generator=generator))
    for m in ("video", "audio"):
        inputs[f"{m}_sigma"].fill_(0.6)
        inputs[f"{m}_timesteps"].fill_(0.6)
    for prefix, (cos, sin) in transformer_graph.reference_rope_tables(model, graph.grid, 24, dtype).items():
        inputs[f"{prefix}_cos"].copy_(cos)
        inputs[f"{prefix}_sin"].copy_(sin)
    return inputs


def _ltx_core(model, graph, inputs, dtype):
    video_positions, audio_positions = transformer_graph.reference_positions(graph.grid, fps=24, dtype=dtype)
    video = Modality(latent=inputs["video_tokens"], sigma=inputs["video_sigma"], timesteps=inputs["video_timesteps"],
                     positions=video_positions, context=inputs["video_context"])
    audio = Modality(latent=inputs["audio_tokens"], sigma=inputs["audio_sigma"], timesteps=inputs["audio_timesteps"],
                     positions=audio_positions, context=inputs["audio_context"])
    with torch.no_grad():
        return model(video, audio, BatchedPerturbationConfig.empty(1))


def _chained(inner, files, graph, inputs, dtype):
    chained = chain.block_chain(inner, [graph], files.dims.transformer,
                                transformer_parts.checkpoint_reader(files.checkpoint), dtype, "cpu")
    outputs = allocate(graph.outputs, "cpu")
    with torch.no_grad():
        chained.run(graph.key, inputs, outputs)
    return list(outputs.values())


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_chained_parts_equal_the_unmodified_ltx_core_forward(files, precision):
    dtype, graph = DTYPES[precision], _graph(files, precision)
    model = transformer_graph.build(files, dtype)
    inputs = _logical_inputs(model, graph, dtype, seed=3)
    inner = TorchExecutor(transformer_parts.part_modules(files.config, [graph]))
    actual = _chained(inner, files, graph, inputs, dtype)
    for a, e in zip(actual, _ltx_core(model, graph, inputs, dtype)):
        assert torch.equal(a, e)
        assert a.float().std() > 0.1


def test_out_of_place_split_rope_matches_ltx_core():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1, 12, 2 * 64, generator=generator)
    cos, sin = torch.randn(2, 1, 2, 12, 32, generator=generator)
    expected = ltx_rope.apply_split_rotary_emb(x.clone(), cos, sin)
    actual = transformer_graph.apply_split_rotary_emb_out_of_place(x, cos, sin)
    assert relative_l2(actual, expected) < 1e-6


def test_noop_squeeze_override_keeps_real_squeezes():
    x = torch.zeros(2, 1, 3)
    with transformer_graph.NoopSqueezeMode():
        assert x.squeeze(2).shape == (2, 1, 3)  # size 3: PyTorch's no-op, kept a no-op
        assert x.squeeze(1).shape == (2, 3)  # size 1: still squeezed


@pytest.fixture(scope="module")
def exported_fp32(files, tmp_path_factory):
    """The three fp32 parts of the stage-2 graph exported into one folder: (graph, model, folder)."""
    folder = tmp_path_factory.mktemp("parts")
    graph = _graph(files, "fp32")
    model = transformer_graph.build(files, torch.float32)
    for part in graph.parts:
        wrapper = transformer_graph.wrap(model, part)
        ir_model = onnx_export.trace(wrapper, transformer_graph.example_inputs(model, part, seed=0), part,
                                     transformer_graph.export_overrides)
        assert onnx_export.save(ir_model, wrapper, folder, part.key) == []  # no external data: no weights
    return graph, model, folder


def test_fp32_onnx_parts_match_pytorch_on_fresh_inputs(exported_fp32):
    graph, model, folder = exported_fp32
    for part in graph.parts:
        check_graph(onnx.load(folder / f"{part.key}.onnx", load_external_data=False), part)
        fresh = transformer_graph.example_inputs(model, part, seed=11)
        session = onnxruntime.InferenceSession(str(folder / f"{part.key}.onnx"))
        actual = session.run(None, {s.name: t.numpy() for s, t in zip(part.inputs, fresh)})
        with torch.no_grad():
            expected = transformer_graph.wrap(model, part)(*fresh)
        for a, e in zip(actual, expected):
            assert relative_l2(a, e.numpy()) < RELATIVE_L2["fp32"], part.key


def test_chained_onnx_parts_match_ltx_core(files, exported_fp32):
    graph, model, folder = exported_fp32
    manifest = {"graphs": {p.key: {"file": f"{p.key}.onnx", "precision": "fp32"} for p in graph.parts}}
    inputs = _logical_inputs(model, graph, torch.float32, seed=5)
    actual = _chained(OnnxRuntimeExecutor(folder, manifest), files, graph, inputs, torch.float32)
    for a, e in zip(actual, _ltx_core(model, graph, inputs, torch.float32)):
        assert relative_l2(a, e) < RELATIVE_L2["fp32"]


def test_exported_parts_take_every_parameter_as_an_input(files, exported_fp32):
    graph, model, folder = exported_fp32
    state = dict(model.named_parameters())
    for part in graph.parts:
        proto = onnx.load(folder / f"{part.key}.onnx", load_external_data=False)
        # constants are small and unnamed by the model (a leaked parameter would keep its state_dict name)
        for init in proto.graph.initializer:
            assert np.prod(init.dims) <= 256 and not init.name.startswith(tuple(state)), (part.key, init.name)
        names = [i.name[len(WEIGHT_PREFIX):] for i in proto.graph.input if i.name.startswith(WEIGHT_PREFIX)]
        expected = transformer_parts.part_parameters(model, transformer_parts.part_of(part))
        assert names == list(expected), part.key
        for name in names:
            key = f"transformer_blocks.0.{name}" if part.key.endswith(".block") else name
            assert tuple(state[key].shape) == next(s.shape for s in part.inputs if s.name == WEIGHT_PREFIX + name)
