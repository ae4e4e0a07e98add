"""The transformer graph: wrapper == unmodified ltx-core forward, overrides == what they replace,
ONNX Runtime == PyTorch in fp32, and bf16 weights exported zero-copy from the checkpoint."""

import os

import onnx
import onnxruntime
import pytest
import torch
from ltx_core.guidance.perturbations import BatchedPerturbationConfig
from ltx_core.model.transformer import rope as ltx_rope
from ltx_core.model.transformer.modality import Modality

from ltx_trt.export import onnx_export
from ltx_trt.export.checks import check_graph
from ltx_trt.export.reference import relative_l2
from ltx_trt.model import transformer_graph
from ltx_trt.runtime.plan import bucket_graphs
from ltx_trt.runtime.profiles import Bucket
from ltx_trt.runtime.tolerances import RELATIVE_L2

SMALL = Bucket("small", width=128, height=64, frames=17, fps=24)  # stage 1: 3x1x2 latent, 18 audio tokens


@pytest.fixture(scope="module")
def files(tiny_ltx_files):
    return tiny_ltx_files


def _graph(files, precision):
    precision = {c: precision for c in ("text_encoder", "connector", "transformer", "upsampler",
                                        "video_decoder", "audio_decoder")}
    return bucket_graphs(SMALL, files.dims, precision)[1]  # stage 2: 3x2x4 latent


def _export(files, precision: str, folder):
    """(graph, module, wrapper, data files) of the stage-2 transformer exported into `folder`."""
    graph = _graph(files, precision)
    model = transformer_graph.build(files, torch.float32 if precision == "fp32" else torch.bfloat16)
    wrapper = transformer_graph.wrap(model, graph)
    ir_model = onnx_export.trace(wrapper, transformer_graph.example_inputs(model, graph, seed=0), graph,
                                 transformer_graph.export_overrides)
    return graph, model, wrapper, onnx_export.save(ir_model, wrapper, folder, graph.key)


def test_wrapper_matches_the_unmodified_ltx_core_forward(files):
    graph = _graph(files, "fp32")
    model = transformer_graph.build(files, torch.float32)
    inputs = dict(zip([s.name for s in graph.inputs], transformer_graph.example_inputs(model, graph, seed=3)))
    video_positions, audio_positions = transformer_graph.reference_positions(graph.grid, fps=24, dtype=torch.float32)
    video = Modality(latent=inputs["video_tokens"], sigma=inputs["video_sigma"], timesteps=inputs["video_timesteps"],
                     positions=video_positions, context=inputs["video_context"])
    audio = Modality(latent=inputs["audio_tokens"], sigma=inputs["audio_sigma"], timesteps=inputs["audio_timesteps"],
                     positions=audio_positions, context=inputs["audio_context"])
    with torch.no_grad():
        expected = model(video, audio, BatchedPerturbationConfig.empty(1))
        actual = transformer_graph.wrap(model, graph)(*inputs.values())
    for a, e in zip(actual, expected):
        assert torch.equal(a, e)


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


def test_fp32_onnx_matches_pytorch_on_fresh_inputs(files, tmp_path):
    graph, model, wrapper, _ = _export(files, "fp32", tmp_path)
    check_graph(onnx.load(tmp_path / f"{graph.key}.onnx", load_external_data=False), graph)
    fresh = transformer_graph.example_inputs(model, graph, seed=11)
    session = onnxruntime.InferenceSession(str(tmp_path / f"{graph.key}.onnx"))
    actual = session.run(None, {s.name: t.numpy() for s, t in zip(graph.inputs, fresh)})
    with torch.no_grad():
        expected = wrapper(*fresh)
    for a, e in zip(actual, expected):
        assert relative_l2(a, e.numpy()) < RELATIVE_L2["fp32"]


def test_bf16_weights_point_into_a_hard_link_of_the_checkpoint(files, tmp_path):
    graph, model, wrapper, data_files = _export(files, "bf16", tmp_path)
    link = tmp_path / f"weights.{files.source.checkpoint.name}"
    assert link in data_files and os.path.samefile(link, files.source.checkpoint)
    proto = onnx.load(tmp_path / f"{graph.key}.onnx", load_external_data=False)
    header = files.checkpoint.header
    weights = [i for i in proto.graph.initializer if i.name.startswith("velocity_model.")]
    assert len(weights) == len(model.state_dict())
    for init in weights:
        location = {e.key: e.value for e in init.external_data}
        key = "model.diffusion_model." + init.name[len("velocity_model."):]
        begin, end = header.tensors[key]["data_offsets"]
        assert location["location"] == link.name
        assert (int(location["offset"]), int(location["length"])) == (header.data_start + begin, end - begin)
