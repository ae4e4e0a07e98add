"""Low-precision Linears in torch: quantizing bf16 weights, and the reference math of each format.

The reference functions compute exactly what the exported ONNX pattern computes (export/quantized_onnx.py),
op for op in the activation dtype, so the CPU torch executor is a reference for the engines and for ONNX
Runtime. On CUDA, FP8 runs on the tensor cores through `torch._scaled_mm` (the same math: the GEMM of
the quantized operands scaled by input_scale x weight_scale, accumulated in fp32). Scales follow the
official checkpoints and ModelOpt: dequantized = code x scale, scale = amax / max code.
Imports torch; of ltx_trt, imports core only.
"""

import torch
import torch.nn.functional as F

from ltx_trt.core.precision import int4_block

FP8 = torch.float8_e4m3fn
FP8_MAX = 448.0  # largest e4m3 value; casting beyond it gives NaN, so codes are clamped first
INT4_MAX = 7  # symmetric INT4 codes -8..7, scale = amax / 7 (ModelOpt's maxbound)


def _scale(amax: torch.Tensor, top: float) -> torch.Tensor:
    """amax / top as float32, 1.0 where amax is 0 (an all-zero tensor quantizes to zeros with any scale)."""
    amax = amax.float()
    return torch.where(amax > 0, amax / top, torch.ones_like(amax))


def quantize_fp8(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(codes [N, K] float8_e4m3fn, weight_scale float32 0-d): per-tensor, codes computed in float32."""
    scale = _scale(weight.abs().amax(), FP8_MAX)
    return (weight.float() / scale).clamp(-FP8_MAX, FP8_MAX).to(FP8), scale


def dequantize_fp8(codes: torch.Tensor, scale: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return (codes.float() * scale.float()).to(dtype)


def quantize_int4(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(packed codes uint8 [N, K/2], weight_scale bfloat16 [N, K/block]): symmetric, block 128 along K
    (core.precision.int4_block: narrower for narrow tiny-model Linears).

    Codes are rounded against the bf16 scale the graph dequantizes with. Packing is ONNX's INT4 layout:
    element 2j in the low nibble, 2j+1 in the high nibble, two's complement.
    """
    n, k = weight.shape
    block = int4_block(k)
    blocks = weight.float().reshape(n, k // block, block)
    scale = _scale(blocks.abs().amax(-1), INT4_MAX).to(torch.bfloat16)
    codes = torch.round(blocks / scale.float().unsqueeze(-1)).clamp(-8, INT4_MAX).to(torch.int8).reshape(n, k)
    return pack_int4(codes), scale


def pack_int4(codes: torch.Tensor) -> torch.Tensor:
    nibbles = (codes.to(torch.int16) & 0xF).to(torch.uint8)
    return nibbles[..., 0::2] | (nibbles[..., 1::2] << 4)


def unpack_int4(packed: torch.Tensor) -> torch.Tensor:
    """uint8 [..., K/2] -> int8 codes [..., K]."""
    low, high = (packed & 0xF).to(torch.int8), (packed >> 4).to(torch.int8)
    codes = torch.stack((low, high), dim=-1).reshape(*packed.shape[:-1], packed.shape[-1] * 2)
    return torch.where(codes > INT4_MAX, codes - 16, codes)


def dequantize_int4(packed: torch.Tensor, scale: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """DequantizeLinear(codes, scale, axis=1, block_size): code x scale in float, in the scale's dtype."""
    codes = unpack_int4(packed).float()
    n, k = codes.shape
    block = int4_block(k)
    values = codes.reshape(n, k // block, block) * scale.float().unsqueeze(-1)
    return values.reshape(n, k).to(scale.dtype).to(dtype)


def fp8_codes(x: torch.Tensor, input_scale: torch.Tensor) -> torch.Tensor:
    """x / input_scale rounded to e4m3, saturating at +-448 (an unclamped cast would give NaN), computed in
    float32 as a fused quantize kernel does (TensorRT's, torch.compile's, ONNX Runtime's)."""
    return (x.float() * (1.0 / input_scale.float())).clamp(-FP8_MAX, FP8_MAX).to(FP8)


def fp8_linear_reference(x, weight, weight_scale, input_scale, bias=None) -> torch.Tensor:
    """The FP8 Linear: a GEMM of the activation and weight codes accumulated in float32, times
    input_scale x weight_scale, rounded once to x's dtype, plus the bias (as cuBLASLt's scaled GEMM)."""
    y = F.linear(fp8_codes(x, input_scale).float(), weight.float()) * (input_scale.float() * weight_scale.float())
    y = y.to(x.dtype)
    return y if bias is None else y + bias


def fp8_linear_cuda(x, weight, weight_scale, input_scale, bias=None) -> torch.Tensor:
    """FP8 on the tensor cores: the same codes, one scaled GEMM (fp32 accumulation, output in x's dtype).
    Written as plain ops so that torch.compile fuses the activation quantization into its producer."""
    n, k = weight.shape
    if n % 16 or k % 16:  # cuBLASLt FP8 needs multiples of 16 (tiny models only)
        return fp8_linear_reference(x, weight, weight_scale, input_scale, bias)
    codes = fp8_codes(x, input_scale).reshape(-1, k)
    y = torch._scaled_mm(codes, weight.t(), scale_a=input_scale.float(), scale_b=weight_scale.float(),
                         bias=bias, out_dtype=x.dtype)
    return y.reshape(*x.shape[:-1], n)


def int4_linear_reference(x, weight, weight_scale, bias=None) -> torch.Tensor:
    """The exported INT4 weight-only pattern: dequantized weight (bf16), a plain GEMM, plus the bias."""
    return F.linear(x, dequantize_int4(weight, weight_scale, x.dtype), bias)
