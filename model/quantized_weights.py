"""Weights in the layout the graphs take: a reader that turns the file's tensors into a chain's weight inputs.

A chained model's weight store asks `read(part, block, name)` for every weight input of every block. The
graphs may want a block's Linears quantized (core.plan.chain_weights) while the file stores them plain,
or the file may store them quantized (an official FP8 / NVFP4 LTX-2.3 file) while the graphs run plain
weights. This reader bridges the two, one Linear at a time: the file's own quantized tensors when the
formats agree; a bf16 weight quantized at pack time (activation scales from the file or the calibration,
core/calibration.py); a quantized file dequantized for plain graphs.
Imports torch; of ltx_trt, imports core only.
"""

from typing import Callable

import torch

from ltx_trt.core.calibration import amax_key
from ltx_trt.core.errors import UserError
from ltx_trt.core.precision import Quantization
from ltx_trt.core.shapes import ChainWeights
from ltx_trt.model import quantize
from ltx_trt.model.weights import MappedFile

Read = Callable[[str, int, str], torch.Tensor]  # (part, block, name) -> tensor, any dtype, any device
# static input scale = calibrated amax x this: amax / 448 for FP8, amax / (6 x 448) for NVFP4's global scale
# (ModelOpt's and the official files' convention)
INPUT_SCALE_OF_AMAX = {"fp8": 1 / quantize.FP8_MAX, "nvfp4": 1 / quantize.NVFP4_GLOBAL}


def graph_reader(read: Read, graph: ChainWeights, stored: Quantization | None, dtype: torch.dtype,
                 input_amax: Callable[[int, str], torch.Tensor] | None = None) -> Read:
    """(part, block, name) -> the tensor `graph`'s weight input `name` of block `block` binds.

    `read` gives the file's tensors by their names in the file; `stored` is how the file quantizes its
    Linears (None: plain); `input_amax(block, linear)` gives calibrated activation maxima for formats with
    static input scales when the file has none.
    """
    wanted, cache = graph.quantization, {}

    def linear_tensors(block: int, linear: str) -> dict[str, torch.Tensor]:
        key = (block, linear)
        if key not in cache:
            cache.clear()  # a Linear's tensors are asked for one after the other: keep one
            plain = _plain_weight(read, stored, block, linear, dtype)
            scale = None
            if wanted.format in INPUT_SCALE_OF_AMAX:
                scale = _input_scale(read, stored, input_amax, block, linear, wanted.format)
            cache[key] = _quantized(wanted.format, plain, scale)
        return cache[key]

    def read_graph(part: str, block: int, name: str) -> torch.Tensor:
        if not part.startswith("block"):
            return read(part, block, name).to(dtype)
        linear, _, suffix = name.rpartition(".")
        if suffix == "bias":  # biases stay in the activation dtype, in the files and in the graphs
            return read(part, block, name).to(dtype)
        in_graph = wanted is not None and part != "block" and linear in wanted.linears
        in_file = stored is not None and block in stored.blocks and linear in stored.linears
        if in_graph and in_file and stored.format == wanted.format:
            return _file_tensor(read, stored, block, linear, suffix)  # the file's own quantized tensors
        if in_graph:
            return linear_tensors(block, linear)[suffix]
        if in_file and suffix == "weight":
            return _plain_weight(read, stored, block, linear, dtype)
        return read(part, block, name).to(dtype)

    return read_graph


def _quantized(format: str, weight: torch.Tensor, input_scale: torch.Tensor | None) -> dict[str, torch.Tensor]:
    if format == "fp8":
        codes, scale = quantize.quantize_fp8(weight)
        return {"weight": codes, "weight_scale": scale, "input_scale": input_scale}
    if format == "int4":
        packed, scale = quantize.quantize_int4(weight)
        return {"weight": packed, "weight_scale": scale}
    if format == "nvfp4":
        packed, scale, global_scale = quantize.quantize_nvfp4(weight)
        return {"weight": packed, "weight_scale": scale, "weight_scale_2": global_scale, "input_scale": input_scale}
    raise NotImplementedError(f"quantizing bf16 weights to {format} at pack time")


def _plain_weight(read: Read, stored: Quantization | None, block: int, linear: str, dtype) -> torch.Tensor:
    """A Linear's weight in `dtype`, dequantized if the file stores it quantized."""
    if stored is None or block not in stored.blocks or linear not in stored.linears:
        return read("block", block, f"{linear}.weight").to(dtype)
    tensors = {suffix: _file_tensor(read, stored, block, linear, suffix) for suffix in STORED_SUFFIXES[stored.format]}
    if stored.format == "fp8":
        return quantize.dequantize_fp8(tensors["weight"], tensors["weight_scale"], dtype)
    if stored.format == "nvfp4":
        return quantize.dequantize_nvfp4(tensors["weight"], tensors["weight_scale"], tensors["weight_scale_2"], dtype)
    raise NotImplementedError(f"dequantizing {stored.format} weights")


STORED_SUFFIXES = {"fp8": ("weight", "weight_scale"), "nvfp4": ("weight", "weight_scale", "weight_scale_2")}


def _file_tensor(read: Read, stored: Quantization, block: int, linear: str, suffix: str) -> torch.Tensor:
    """One of a quantized Linear's tensors as the graphs take it: scalars 0-d; an official NVFP4 file's
    bytes with their nibbles swapped and its block scales out of cuBLAS's tiled layout (core.checkpoint)."""
    tensor = read("block", block, f"{linear}.{suffix}")
    if suffix in ("input_scale", "weight_scale_2") or (stored.format == "fp8" and suffix == "weight_scale"):
        return tensor.reshape(())
    if stored.format != "nvfp4":
        return tensor
    if suffix == "weight":
        return quantize.swap_nibbles(tensor)
    rows, packed = read("block", block, f"{linear}.weight").shape
    return quantize.untile_scales(tensor, rows, packed * 2 // quantize.NVFP4_BLOCK_SIZE)


def _input_scale(read: Read, stored, input_amax, block: int, linear: str, format: str) -> torch.Tensor:
    if stored is not None and stored.format == format and block in stored.blocks and linear in stored.linears:
        return _file_tensor(read, stored, block, linear, "input_scale").float()
    if input_amax is None:
        raise UserError(f"{format} needs static activation scales, and this checkpoint has none",
                        "run `ltx-trt calibrate` for this model (or use an official FP8 checkpoint)")
    return (input_amax(block, linear).float() * INPUT_SCALE_OF_AMAX[format]).reshape(())


EXAMPLE_INPUT_AMAX = 4.0  # about max |x| of the standard-normal activations of export's example inputs


def example_reader(plain: Read, graph: ChainWeights, dtype: torch.dtype) -> Read:
    """Weight inputs for example inputs (export's references, parity tests): the model's own weights,
    quantized as the graph wants them, input scales from EXAMPLE_INPUT_AMAX."""
    return graph_reader(plain, graph, None, dtype, lambda block, linear: torch.tensor(EXAMPLE_INPUT_AMAX))


def amax_reader(path) -> Callable[[int, str], torch.Tensor]:
    """(block, linear) -> the calibrated input maximum, memory-mapped from a calibration file."""
    mapped = MappedFile(path)

    def read(block: int, linear: str) -> torch.Tensor:
        key = amax_key(block, linear)
        if key not in mapped.header.tensors:
            raise UserError(f"{path} has no {key}: it was made for another model", "run `ltx-trt calibrate` again")
        return mapped.tensor(key)

    return read
