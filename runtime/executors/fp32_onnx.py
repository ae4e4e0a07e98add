"""Turn a bf16 ONNX model into an fp32 one in memory, for ONNX Runtime's CPU provider (no bf16 kernels).

Every BFLOAT16 becomes FLOAT: graph inputs, outputs and value infos, initializers, tensor-valued
node attributes (Constant, ConstantOfShape, ...), Cast/`dtype` targets, in subgraphs and local
functions too. External data is read into the model first (`inline_external`, from the entries
core.trust.load_onnx checked: onnx.load itself refuses data files with several hard links, which is how
export shares the checkpoint's bytes); the result is serialised whole. The caller casts at the boundary.
Imports onnx and numpy only.
"""

from pathlib import Path

import numpy as np
import onnx
from onnx import AttributeProto, TensorProto, numpy_helper

BF16, FP32 = TensorProto.BFLOAT16, TensorProto.FLOAT


def inline_external(entries) -> None:
    """Read each (tensor, path, offset, length) of core.trust.load_onnx into its tensor, in place."""
    for tensor, path, offset, length in entries:
        with Path(path).open("rb") as f:
            f.seek(offset)
            tensor.raw_data = f.read(length)
        del tensor.external_data[:]
        tensor.data_location = TensorProto.DEFAULT


def bf16_to_fp32(model: onnx.ModelProto) -> onnx.ModelProto:
    """A converted copy of `model` (its external data inlined first)."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    _graph(model.graph)
    for function in model.functions:
        _nodes(function.node)
        for info in function.value_info:
            _value_info(info)
    return model


def _graph(graph: onnx.GraphProto) -> None:
    for info in (*graph.input, *graph.output, *graph.value_info):
        _value_info(info)
    for tensor in graph.initializer:
        _tensor(tensor)
    if any(s.values.data_type == BF16 for s in graph.sparse_initializer):
        raise NotImplementedError("bf16 sparse initializers are not converted")
    _nodes(graph.node)


def _nodes(nodes) -> None:
    for node in nodes:
        for attr in node.attribute:
            if attr.type == AttributeProto.TENSOR:
                _tensor(attr.t)
            elif attr.type == AttributeProto.TENSORS:
                for tensor in attr.tensors:
                    _tensor(tensor)
            elif attr.type == AttributeProto.GRAPH:
                _graph(attr.g)
            elif attr.type == AttributeProto.GRAPHS:
                for sub in attr.graphs:
                    _graph(sub)
            elif attr.type == AttributeProto.INT and attr.name in ("to", "dtype") and attr.i == BF16:
                attr.i = FP32  # Cast(to=BFLOAT16), RandomNormal(dtype=...), EyeLike, ...


def _value_info(info: onnx.ValueInfoProto) -> None:
    if info.type.HasField("tensor_type") and info.type.tensor_type.elem_type == BF16:
        info.type.tensor_type.elem_type = FP32


def _tensor(tensor: onnx.TensorProto) -> None:
    if tensor.data_type != BF16:
        return
    if tensor.data_location == TensorProto.EXTERNAL:
        raise ValueError(f"tensor {tensor.name!r} has external data outside the graph's initializers")
    values = numpy_helper.to_array(tensor).astype(np.float32)
    tensor.CopyFrom(numpy_helper.from_array(values, tensor.name))
