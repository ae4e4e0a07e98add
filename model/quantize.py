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

from ltx_trt.core.precision import NVFP4_BLOCK as NVFP4_BLOCK_SIZE, int4_block, tiled_scale_shape

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
    codes = _nibbles(packed).to(torch.int8)
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


# NVFP4: e2m1 codes (sign, 2 exponent bits, 1 mantissa bit) in blocks of 16 along K, each block scaled by an
# e4m3 factor, the whole tensor by an fp32 one; activations quantized the same way on the fly.
# magnitudes of codes 0..7 are 0, 0.5, 1, 1.5, 2, 3, 4, 6; code | 8 is the negative
FP4_MAX = 6.0
NVFP4_GLOBAL = FP4_MAX * FP8_MAX  # a tensor's fp32 scale = amax / (6 x 448), as the official files store it


def fp4_codes(values: torch.Tensor) -> torch.Tensor:
    """Nearest e2m1 code (ties to the even code, saturating at 6) of each value, as uint8 nibbles. Written
    with comparisons to Python numbers only, so it allocates no constant (it runs inside CUDA graphs)."""
    m = values.float().abs()
    # a tie between codes i and i+1 goes to the even one: up (>=) where i is odd, down (>) where it is even
    index = ((m > 0.25).to(torch.uint8) + (m >= 0.75) + (m > 1.25) + (m >= 1.75) + (m > 2.5) + (m >= 3.5)
             + (m > 5.0))
    return index | ((values < 0).to(torch.uint8) << 3)


def fp4_values(codes: torch.Tensor) -> torch.Tensor:
    """The e2m1 value of each nibble: codes 0-3 are 0, 0.5, 1, 1.5; 4-7 are 2, 3, 4, 6."""
    index = (codes & 7).float()
    high = torch.exp2(torch.floor(index / 2) - 1) * (1 + 0.5 * torch.remainder(index, 2))
    magnitude = torch.where(index < 4, index * 0.5, high)
    return torch.where((codes & 8) > 0, -magnitude, magnitude)


def _nvfp4_blocks(values: torch.Tensor, global_scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(codes [..., K], e4m3 block scales [..., K/16]) of values already divided by nothing: the block
    scale is amax / 6 / global_scale, rounded to e4m3."""
    blocks = values.float().reshape(*values.shape[:-1], -1, NVFP4_BLOCK_SIZE)
    scale = (blocks.abs().amax(-1) / FP4_MAX / global_scale.float()).clamp(max=FP8_MAX).to(FP8)
    divisor = torch.where(scale.float() > 0, scale.float(), torch.ones_like(scale.float())) * global_scale.float()
    codes = fp4_codes(blocks / divisor.unsqueeze(-1)).reshape(values.shape)
    return codes, scale


def quantize_nvfp4(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(packed codes uint8 [N, K/2], e4m3 block scales [N, K/16], weight_scale_2 fp32 0-d)."""
    global_scale = _scale(weight.abs().amax(), NVFP4_GLOBAL)
    codes, scale = _nvfp4_blocks(weight, global_scale)
    return pack_int4(codes), scale, global_scale


def dequantize_nvfp4(packed, block_scale, global_scale, dtype) -> torch.Tensor:
    values = fp4_values(_nibbles(packed)).reshape(*packed.shape[:-1], -1, NVFP4_BLOCK_SIZE)
    values = values * (block_scale.float() * global_scale.float()).unsqueeze(-1)
    return values.reshape(*packed.shape[:-1], packed.shape[-1] * 2).to(dtype)


def _nibbles(packed: torch.Tensor) -> torch.Tensor:
    return torch.stack((packed & 0xF, packed >> 4), dim=-1).reshape(*packed.shape[:-1], packed.shape[-1] * 2)


# The official NVFP4 files store each byte's two codes high nibble first (ONNX and this module: low first)
# and the block scales in cuBLAS's tiled layout: the [rows, K/16] matrix padded to tiles of 128 rows x 4
# columns, tiles row-major, 512 bytes each, element (r, c) of a tile at (r % 32) * 16 + (r // 32) * 4 + c.
def untile_scales(tiled: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """cuBLAS's tiled block scales (any shape holding the padded matrix's bytes) -> [rows, cols] row-major."""
    padded_rows, padded_cols = tiled_scale_shape(rows, cols)
    tiles = tiled.view(torch.uint8).reshape(padded_rows // 128, padded_cols // 4, 32, 4, 4)  # tile, tile, r%32, r//32, c
    plain = tiles.permute(0, 3, 2, 1, 4).reshape(padded_rows, padded_cols)
    return plain[:rows, :cols].contiguous().view(tiled.dtype)


def tile_scales(scale: torch.Tensor) -> torch.Tensor:
    """[rows, cols] row-major block scales -> cuBLAS's tiled layout [padded rows, padded cols], zero padded."""
    rows, cols = scale.shape
    padded_rows, padded_cols = tiled_scale_shape(rows, cols)
    padded = torch.zeros(padded_rows, padded_cols, dtype=torch.uint8)
    padded[:rows, :cols] = scale.view(torch.uint8)
    tiles = padded.reshape(padded_rows // 128, 4, 32, padded_cols // 4, 4).permute(0, 3, 2, 1, 4)
    return tiles.reshape(padded_rows, padded_cols).contiguous().view(scale.dtype)


def swap_nibbles(packed: torch.Tensor) -> torch.Tensor:
    """High-nibble-first bytes <-> low-nibble-first bytes (the operation is its own inverse)."""
    return (packed << 4) | (packed >> 4)


def nvfp4_linear_reference(x, weight, weight_scale, weight_scale_2, input_scale, bias=None) -> torch.Tensor:
    """The NVFP4 Linear: x / input_scale quantized in blocks of 16 on the fly (TensorRT's dynamic
    quantize), a float32 GEMM of the dequantized codes, times input_scale x weight_scale_2, one rounding."""
    unit = torch.ones_like(input_scale, dtype=torch.float32)
    codes, scale = _nvfp4_blocks(x.float() * (1.0 / input_scale.float()), unit)
    xq = fp4_values(codes).reshape(*scale.shape, NVFP4_BLOCK_SIZE) * scale.float().unsqueeze(-1)
    w = dequantize_nvfp4(weight, weight_scale, unit, torch.float32)
    y = F.linear(xq.reshape(x.shape), w) * (input_scale.float() * weight_scale_2.float())
    y = y.to(x.dtype)
    return y if bias is None else y + bias
