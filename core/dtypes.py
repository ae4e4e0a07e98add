"""The one dtype table: every tensor dtype the project names, and what each library calls it.

A TensorSpec's dtype is the torch attribute name ("bfloat16"); the columns give its size and its name in
safetensors headers, ONNX (TensorProto element type) and TensorRT (DataType member). 4-bit types have no
torch dtype: their buffers are uint8 holding two values a byte (ONNX's packing, element 2j in the low
nibble), so a [N, K] tensor is stored as [N, K/2].
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
    storage: str | None = None  # torch dtype of the buffer when not `name` (packed 4-bit: uint8)


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
    DType("int4", 4, None, 22, "INT4", storage="uint8"),
    DType("float4_e2m1", 4, None, 23, "FP4", storage="uint8"),
)
DTYPES = {d.name: d for d in _TABLE}
BY_SAFETENSORS = {d.safetensors: d for d in _TABLE if d.safetensors}
BY_TENSORRT = {d.tensorrt: d for d in _TABLE}
BY_ONNX = {d.onnx: d for d in _TABLE}


def nbytes(dtype: str, shape: tuple[int, ...]) -> int:
    return (DTYPES[dtype].bits * math.prod(shape) + 7) // 8


def storage_shape(dtype: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape of the torch buffer that holds a tensor (packed 4-bit types: last dimension halved)."""
    if DTYPES[dtype].bits == 4:
        return (*shape[:-1], shape[-1] // 2)
    return tuple(shape)


def torch_dtype(name: str):
    """The torch dtype of a table name's buffers (imports torch)."""
    import torch

    entry = DTYPES[name]
    return getattr(torch, entry.storage or entry.name)
