"""The one dtype table: every tensor dtype the project names, and what each library calls it.

A TensorSpec's dtype is the torch attribute name ("bfloat16"); the columns give its size and its name in
safetensors headers, ONNX (TensorProto element type) and TensorRT (DataType member). Precisions (a
profile's per-component choice) map to the dtype their activations and stored weights use.
Pure Python; torch is imported only by `torch_dtype`.
"""

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class DType:
    name: str  # torch attribute name and TensorSpec.dtype
    bits: int
    safetensors: str | None
    onnx: int | None  # onnx.TensorProto element type
    tensorrt: str | None  # tensorrt.DataType member name


_TABLE = (
    DType("float32", 32, "F32", 1, "FLOAT"),
    DType("bfloat16", 16, "BF16", 16, "BF16"),
    DType("float16", 16, "F16", 10, "HALF"),
    DType("int64", 64, "I64", 7, "INT64"),
    DType("int32", 32, "I32", 6, "INT32"),
    DType("int8", 8, "I8", 3, "INT8"),
    DType("uint8", 8, "U8", 2, "UINT8"),
    DType("bool", 8, "BOOL", 9, "BOOL"),
    DType("float8_e4m3fn", 8, "F8_E4M3", 17, "FP8"),
)
DTYPES = {d.name: d for d in _TABLE}
BY_SAFETENSORS = {d.safetensors: d for d in _TABLE}
BY_TENSORRT = {d.tensorrt: d for d in _TABLE}

# A precision's activation dtype (the graph's float inputs and outputs).
PRECISION_DTYPE = {"bf16": "bfloat16", "fp32": "float32"}


def nbytes(dtype: str, shape: tuple[int, ...]) -> int:
    return (DTYPES[dtype].bits * math.prod(shape) + 7) // 8


def torch_dtype(name: str):
    """The torch dtype of a table name (imports torch)."""
    import torch

    return getattr(torch, DTYPES[name].name)
