"""Precisions: what a profile may ask of a component, and how a quantized Linear's weights are stored.

A precision names the graph's activation dtype and, for the low-precision ones, the format of the
Linears it quantizes (the tensors each such Linear binds, with their dtypes and shapes) and the compute
capabilities whose tensor cores run it (docs/DESIGN.md "Precision"). Which Linears of which blocks are
quantized is a `Quantization`: read from a pre-quantized checkpoint, or the recipe below.
Pure Python; imports core only.
"""

import math
from dataclasses import dataclass
from typing import Callable

from ltx_trt.core.errors import UserError

INT4_BLOCK = 128  # INT4 weight-only: one bf16 scale per 128 input channels
NVFP4_BLOCK = 16  # NVFP4: one FP8 scale per 16 input channels, plus a per-tensor fp32 scale
SCALE_TILE = (128, 4)  # cuBLAS's tiled block-scale layout (the official NVFP4 files): rows x columns per tile


def tiled_scale_shape(rows: int, cols: int) -> tuple[int, int]:
    """The padded shape a [rows, cols] block-scale matrix has in cuBLAS's tiled layout."""
    return -(-rows // SCALE_TILE[0]) * SCALE_TILE[0], -(-cols // SCALE_TILE[1]) * SCALE_TILE[1]


@dataclass(frozen=True)
class Precision:
    name: str
    activations: str  # dtype name of the graph's float inputs and outputs
    format: str | None  # the quantized-Linear format (QUANTIZED_TENSORS), None: plain weights in `activations`
    compute_capabilities: tuple[str, ...] | None  # GPUs whose TensorRT builds it; None: every GPU
    components: tuple[str, ...]  # components that may use it


_QUANTIZABLE = ("transformer", "text_encoder")  # chained models: their block Linears take weight inputs
_ALL = ("text_encoder", "connector", "transformer", "upsampler", "video_encoder", "video_decoder",
        "audio_decoder")
PRECISIONS = {p.name: p for p in (
    Precision("fp32", "float32", None, None, _ALL),
    Precision("bf16", "bfloat16", None, None, _ALL),
    # W8A8 e4m3, per-tensor weight and static input scales: FP8 tensor cores (Ada, Hopper, Blackwell)
    Precision("fp8", "bfloat16", "fp8", ("8.9", "9.0", "12.0"), _QUANTIZABLE),
    # W4A4 e2m1, block-16 FP8 scales + per-tensor scales, activations quantized on the fly: Blackwell
    Precision("nvfp4", "bfloat16", "nvfp4", ("12.0",), ("transformer",)),
    # INT4 weights, block-128 bf16 scales, bf16 activations (weight-only): any GPU
    Precision("int4", "bfloat16", "int4", None, _QUANTIZABLE),
)}


def _fp8(n: int, k: int):
    return (("weight", "float8_e4m3fn", (n, k)), ("weight_scale", "float32", ()), ("input_scale", "float32", ()))


def int4_block(k: int) -> int:
    """INT4 scale block along K: 128, or K's largest divisor among 64, 32, ... for narrow (tiny-model) Linears."""
    return math.gcd(k, INT4_BLOCK)


def _int4(n: int, k: int):
    return (("weight", "int4", (n, k)), ("weight_scale", "bfloat16", (n, k // int4_block(k))))


def _nvfp4(n: int, k: int):
    return (("weight", "float4_e2m1", (n, k)), ("weight_scale", "float8_e4m3fn", (n, k // NVFP4_BLOCK)),
            ("weight_scale_2", "float32", ()), ("input_scale", "float32", ()))


# format -> (N, K) -> the tensors a quantized Linear binds instead of its weight: (suffix, dtype, shape).
# The names and meanings are those of the official pre-quantized LTX-2.3 files (`<linear>.weight_scale`, ...);
# the bias, if any, stays in the activation dtype.
QUANTIZED_TENSORS: dict[str, Callable[[int, int], tuple]] = {"fp8": _fp8, "int4": _int4, "nvfp4": _nvfp4}


@dataclass(frozen=True)
class Quantization:
    """Which Linears of a chained model are quantized, and how: the same Linears in each listed block."""

    format: str  # a QUANTIZED_TENSORS key
    blocks: tuple[int, ...]
    linears: tuple[str, ...]  # Linear names inside one block, e.g. "attn1.to_q"


def quantized_params(params, quantization: Quantization) -> tuple:
    """A block's (name, shape, dtype) weight inputs with `quantization`'s Linears in its format (dtype None:
    the graph's activation dtype)."""
    out = []
    for name, shape in params:
        linear = name.removesuffix(".weight")
        if linear != name and linear in quantization.linears:
            out += [(f"{linear}.{suffix}", tuple(s), dtype)
                    for suffix, dtype, s in QUANTIZED_TENSORS[quantization.format](*shape)]
        else:
            out.append((name, tuple(shape), None))
    missing = set(quantization.linears) - {n.removesuffix(".weight") for n, _ in params}
    if missing:
        raise ValueError(f"quantized Linears not in the block: {sorted(missing)[:4]}")
    return tuple(out)


# Blocks kept plain at each end of a chained model, per component: the official FP8 and NVFP4 LTX-2.3 files
# keep transformer blocks 0-1 and 46-47 of 48 in bf16; Gemma-3-12b-it is quantization-aware trained for
# 4-bit weights (the q4_0 QAT checkpoint), so all its layers are quantized.
PLAIN_EDGE_BLOCKS = {"transformer": lambda blocks: blocks // 24, "text_encoder": lambda blocks: 0}


def recipe(format: str, blocks: int, linears: tuple[str, ...], component: str = "transformer") -> Quantization:
    """ltx-trt's own choice for a bf16 checkpoint: every Linear of every block but the plain edge blocks."""
    edge = PLAIN_EDGE_BLOCKS[component](blocks)
    return Quantization(format, tuple(range(edge, blocks - edge)), tuple(linears))


def check_precision(component: str, precision: str, compute_capabilities: tuple[str, ...], where: str) -> None:
    """Refuse a precision the component cannot take or a GPU of the profile cannot run, with a hint."""
    spec = PRECISIONS.get(precision)
    if spec is None:
        raise UserError(f"{where}: unknown precision {component} = {precision!r}",
                        f"use one of: {', '.join(PRECISIONS)}")
    if component not in spec.components:
        allowed = [p.name for p in PRECISIONS.values() if component in p.components]
        raise UserError(f"{where}: {component} cannot be {precision}", f"use one of: {', '.join(allowed)}")
    unable = [cc for cc in compute_capabilities if spec.compute_capabilities and cc not in spec.compute_capabilities]
    if unable:
        fitting = [p.name for p in PRECISIONS.values() if component in p.components and
                   all(p.compute_capabilities is None or cc in p.compute_capabilities for cc in compute_capabilities)]
        raise UserError(f"{where}: {precision} {component} needs compute capability "
                        f"{' or '.join(spec.compute_capabilities)}; this profile targets {', '.join(unable)}",
                        f"use one of: {', '.join(fitting)} (its tensor cores have no {precision})")
