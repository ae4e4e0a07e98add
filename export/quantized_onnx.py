"""The ONNX patterns of quantized Linears: what TensorRT-RTX builds in low precision with the weights as
graph inputs (docs/DESIGN.md "Precision", measured with the builder's per-layer report).

A Q/DQ scale that is a runtime tensor turns TensorRT's GEMM into a generic fused kernel, so every Q/DQ
scale here is the constant 1.0 and the per-block scales (graph inputs) are applied as plain multiplies
before and after the GEMM, which the builder fuses into the quantize kernel and the GEMM's epilogue:
  fp8:  Q(x * (1 / input_scale)) -> DQ -> MatMul(., Transpose(DQ(weight))) * (input_scale * weight_scale) + bias
  int4: MatMul(x, Transpose(DQ(weight, weight_scale, axis 1, block))) + bias   (weight-only)
  nvfp4: trt::TRT_FP4DynamicQuantize(x * (1 / input_scale)) -> DQ(codes, DQ(block scales)) ->
         MatMul(., Transpose(DQ(weight, DQ(weight_scale)))) * (input_scale * weight_scale_2) + bias
The custom ops of model/quant_linear.py are translated through torch's exporter with this table; 4-bit
weight inputs are traced as their uint8 buffers and retyped to INT4 / FLOAT4E2M1 [N, K] afterwards
(`retype_packed`). TensorRT's dynamic FP4 quantizer is a `trt`-domain op (onnx-tensorrt's importer
gives its signature); its schema is registered here so that onnxscript can emit it.
Imports onnx, onnxscript and ltx_trt.core; the ops themselves come from model/.
"""

import onnx
import onnx_ir as ir
import onnxscript
import torch
from onnx import TensorProto, defs, helper
from onnxscript import opset21 as op
from onnxscript import opset23 as op23

from ltx_trt.core.dtypes import DTYPES
from ltx_trt.core.precision import int4_block
from ltx_trt.model import quant_linear  # noqa: F401  (registers torch.ops.ltx_trt.*)

OPSET = 21  # DequantizeLinear's block_size (INT4 block scales) needs opset 21
FP4_OPSET = 23  # FLOAT4E2M1 needs opset 23: only graphs with FP4 inputs are exported at it
NVFP4_BLOCK = 16


def _register_fp4_quantizer() -> onnxscript.values.Opset:
    """trt::TRT_FP4DynamicQuantize(x, scale) -> (FP4 codes, FP8 block scales); attributes axis, block_size
    (16) and scale_type (FLOAT8E4M3FN); `scale` must be a constant (TensorRT-RTX refuses an input)."""
    tensor = defs.OpSchema.FormalParameter
    schema = defs.OpSchema(
        "TRT_FP4DynamicQuantize", "trt", 1,
        inputs=[tensor("x", "T"), tensor("scale", "S")], outputs=[tensor("y", "Q"), tensor("block_scale", "F")],
        type_constraints=[("T", ["tensor(bfloat16)", "tensor(float16)", "tensor(float)"], ""),
                          ("S", ["tensor(float)"], ""), ("Q", ["tensor(float4e2m1)"], ""),
                          ("F", ["tensor(float8e4m3fn)"], "")],
        attributes=[defs.OpSchema.Attribute(name, defs.OpSchema.AttrType.INT, "")
                    for name in ("axis", "block_size", "scale_type")])
    if not defs.has("TRT_FP4DynamicQuantize", "trt"):
        defs.register_schema(schema)
    return onnxscript.values.Opset("trt", 1)


trt = _register_fp4_quantizer()


def _one(x, ops=op):
    return ops.CastLike(ops.Constant(value_float=1.0), x)


def fp8_linear(x, weight, weight_scale, input_scale, bias=None):
    one = _one(x)
    zero = op.Constant(value=helper.make_tensor("zero", TensorProto.FLOAT8E4M3FN, [], [0.0]))
    codes = op.QuantizeLinear(op.Mul(x, op.CastLike(op.Reciprocal(input_scale), x)), one, zero)
    product = op.MatMul(op.DequantizeLinear(codes, one), op.Transpose(op.DequantizeLinear(weight, one), perm=[1, 0]))
    y = op.Mul(product, op.CastLike(op.Mul(input_scale, weight_scale), x))
    return y if bias is None else op.Add(y, bias)


def int4_linear(x, weight, weight_scale, bias=None):
    # `weight` is traced as its uint8 buffer [N, K/2]; retype_packed makes it INT4 [N, K] (same bytes)
    k = 2 * weight.shape[1]
    dequantized = op.DequantizeLinear(weight, weight_scale, axis=1, block_size=int4_block(k))
    y = op.MatMul(x, op.Transpose(dequantized, perm=[1, 0]))
    return y if bias is None else op.Add(y, bias)


def nvfp4_linear(x, weight, weight_scale, weight_scale_2, input_scale, bias=None):
    one, unit = _one(x, op23), op23.Constant(value_float=1.0)
    scaled = op23.Mul(x, op23.CastLike(op23.Reciprocal(input_scale), x))
    codes, block_scale = trt.TRT_FP4DynamicQuantize(scaled, unit, axis=-1, block_size=NVFP4_BLOCK,
                                                    scale_type=TensorProto.FLOAT8E4M3FN)
    activation = op23.DequantizeLinear(codes, op23.DequantizeLinear(block_scale, one), axis=-1, block_size=NVFP4_BLOCK)
    weights = op23.DequantizeLinear(weight, op23.DequantizeLinear(weight_scale, one), axis=1, block_size=NVFP4_BLOCK)
    y = op23.Mul(op23.MatMul(activation, op23.Transpose(weights, perm=[1, 0])),
               op23.CastLike(op23.Mul(input_scale, weight_scale_2), x))
    return y if bias is None else op23.Add(y, bias)


TRANSLATIONS = {torch.ops.ltx_trt.fp8_linear.default: fp8_linear, torch.ops.ltx_trt.int4_linear.default: int4_linear,
                torch.ops.ltx_trt.nvfp4_linear.default: nvfp4_linear}


def opset_of(specs) -> int:
    return FP4_OPSET if any(s.dtype == "float4_e2m1" for s in specs) else OPSET


def retype_packed(model: ir.Model, specs) -> None:
    """Give packed 4-bit graph inputs (traced as uint8 [..., K/2]) their planned type and shape."""
    for value in model.graph.inputs:
        spec = specs.get(value.name)
        if spec is not None and DTYPES[spec.dtype].bits == 4:
            value.dtype = ir.DataType(DTYPES[spec.dtype].onnx)
            value.shape = ir.Shape(spec.shape)


def quantized_op_counts(proto: onnx.ModelProto) -> dict[str, int]:
    """How many Q/DQ nodes a graph holds (the manifest records them: a quantized block must have some)."""
    counts: dict[str, int] = {}
    for node in proto.graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts
