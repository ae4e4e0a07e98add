"""Executors write into the caller's buffers: PyTorch modules, ONNX Runtime (with the bf16 -> fp32
conversion for its CPU provider), and the TensorRT binding checks."""

import os

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from ltx_trt.core.errors import UserError
from ltx_trt.runtime.executors.fp32_onnx import bf16_to_fp32
from ltx_trt.runtime.executors.onnxruntime import OnnxRuntimeExecutor
from ltx_trt.runtime.executors.pytorch import TorchExecutor

GEN = torch.Generator().manual_seed(0)
X = torch.randn(2, 3, generator=GEN).bfloat16()
W = torch.randn(3, 4, generator=GEN).bfloat16()
C = torch.randn(4, generator=GEN).bfloat16()


def _bf16_tensor(name: str, value: torch.Tensor) -> onnx.TensorProto:
    raw = value.contiguous().view(torch.int16).numpy().tobytes()
    return helper.make_tensor(name, TensorProto.BFLOAT16, list(value.shape), raw, raw=True)


def _bf16_model() -> onnx.ModelProto:
    """y = bf16((x @ w + c)^2) and z = fp32(x @ w + c), with a bf16 initializer, Constant and Cast."""
    nodes = [
        helper.make_node("Constant", [], ["c"], value=_bf16_tensor("c_value", C)),
        helper.make_node("MatMul", ["x", "w"], ["xw"]),
        helper.make_node("Add", ["xw", "c"], ["sum"]),
        helper.make_node("Cast", ["sum"], ["z"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["z", "z"], ["square"]),
        helper.make_node("Cast", ["square"], ["y"], to=TensorProto.BFLOAT16),
    ]
    graph = helper.make_graph(
        nodes, "bf16_probe",
        [helper.make_tensor_value_info("x", TensorProto.BFLOAT16, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.BFLOAT16, [2, 4]),
         helper.make_tensor_value_info("z", TensorProto.FLOAT, [2, 4])],
        initializer=[_bf16_tensor("w", W)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)  # ORT >= 1.16 reads it
    onnx.checker.check_model(model)
    return model


def _expected() -> tuple[torch.Tensor, torch.Tensor]:
    z = X.float() @ W.float() + C.float()
    return (z * z).bfloat16(), z


def test_cpu_onnxruntime_cannot_run_the_bf16_probe_as_is():
    # The reason the conversion exists: if this starts passing, the conversion can go.
    with pytest.raises(Exception, match="(?i)(not implemented|could not find an implementation|bfloat16)"):
        session = onnxruntime.InferenceSession(_bf16_model().SerializeToString(), providers=["CPUExecutionProvider"])
        session.run(None, {"x": np.zeros((2, 3), dtype=np.float32)})


def test_bf16_to_fp32_converts_every_bf16_type_and_keeps_the_original():
    model = _bf16_model()
    converted = bf16_to_fp32(model)
    assert TensorProto.BFLOAT16 not in {i.type.tensor_type.elem_type for i in (*converted.graph.input,
                                                                               *converted.graph.output)}
    assert converted.graph.initializer[0].data_type == TensorProto.FLOAT
    constants = [a.t for n in converted.graph.node for a in n.attribute if a.name == "value"]
    assert [t.data_type for t in constants] == [TensorProto.FLOAT]
    assert [a.i for n in converted.graph.node if n.op_type == "Cast" for a in n.attribute] == [1, 1]
    assert model.graph.initializer[0].data_type == TensorProto.BFLOAT16  # untouched
    assert np.array_equal(numpy_helper.to_array(converted.graph.initializer[0]), W.float().numpy())


def test_onnxruntime_executor_runs_a_bf16_graph_on_cpu_into_the_callers_buffers(tmp_path):
    onnx.save(_bf16_model(), tmp_path / "probe.onnx")
    manifest = {"graphs": {"probe": {"file": "probe.onnx", "precision": "bf16"}}}
    executor = OnnxRuntimeExecutor(tmp_path, manifest)
    outputs = {"y": torch.zeros(2, 4, dtype=torch.bfloat16), "z": torch.zeros(2, 4)}
    addresses = {name: t.data_ptr() for name, t in outputs.items()}
    for _ in range(2):  # the second run reuses the session, binding and staging buffers
        executor.run("probe", {"x": X}, outputs)
    y, z = _expected()
    assert {name: t.data_ptr() for name, t in outputs.items()} == addresses
    assert torch.allclose(outputs["z"], z, rtol=1e-6, atol=1e-6)
    assert torch.allclose(outputs["y"].float(), y.float(), rtol=2**-7, atol=0)  # within one bf16 step


def test_onnxruntime_executor_binds_fp32_buffers_without_staging(tmp_path):
    fp32 = bf16_to_fp32(_bf16_model())
    onnx.save(fp32, tmp_path / "probe.onnx")
    executor = OnnxRuntimeExecutor(tmp_path, {"graphs": {"probe": {"file": "probe.onnx", "precision": "fp32"}}})
    outputs = {"y": torch.zeros(2, 4), "z": torch.zeros(2, 4)}
    executor.run("probe", {"x": X.float()}, outputs)
    assert executor._sessions["probe"].staging == {}
    assert torch.allclose(outputs["z"], _expected()[1], rtol=1e-6, atol=1e-6)


def test_onnxruntime_executor_refuses_a_graph_the_export_did_not_write(tmp_path):
    executor = OnnxRuntimeExecutor(tmp_path, {"graphs": {}})
    with pytest.raises(UserError, match="no graph 'transformer.x.stage1'") as err:
        executor.run("transformer.x.stage1", {}, {})
    assert "ltx-trt export" in err.value.hint


class _StandIn(torch.nn.Module):
    """A plain-tensor module honouring the contract: inputs in spec order, outputs in spec order."""

    def forward(self, a, b):
        return a + b, a * b


def test_torch_executor_calls_the_module_in_spec_order_and_fills_the_buffers():
    executor = TorchExecutor({"graph": _StandIn()})
    a, b = torch.tensor([1.0, 2.0]), torch.tensor([3.0, 5.0])
    outputs = {"sum": torch.zeros(2), "product": torch.zeros(2, dtype=torch.bfloat16)}
    pointer = outputs["sum"].data_ptr()
    executor.run("graph", {"a": a, "b": b}, outputs)
    assert outputs["sum"].tolist() == [4.0, 7.0] and outputs["product"].tolist() == [3.0, 10.0]
    assert outputs["sum"].data_ptr() == pointer


def test_torch_executor_refuses_outputs_of_the_wrong_shape():
    executor = TorchExecutor({"graph": _StandIn()})
    with pytest.raises(ValueError, match="shape"):
        executor.run("graph", {"a": torch.ones(2), "b": torch.ones(2)}, {"s": torch.zeros(1), "p": torch.zeros(2)})


def test_bf16_graph_with_hard_linked_external_data_runs(tmp_path):
    # export shares the checkpoint's bytes through a hard link, which onnx.load refuses to read
    onnx.save(_bf16_model(), tmp_path / "probe.onnx", save_as_external_data=True, location="weights.data",
              size_threshold=0)
    os.link(tmp_path / "weights.data", tmp_path / "checkpoint.safetensors")
    entry = {"file": "probe.onnx", "precision": "bf16", "data_files": [{"file": "weights.data"}]}
    executor = OnnxRuntimeExecutor(tmp_path, {"graphs": {"probe": entry}})
    outputs = {"y": torch.zeros(2, 4, dtype=torch.bfloat16), "z": torch.zeros(2, 4)}
    executor.run("probe", {"x": X}, outputs)
    assert torch.allclose(outputs["z"], _expected()[1], rtol=1e-6, atol=1e-6)
