"""Quantized Linears inside ltx-core blocks: a module that takes a format's tensors (core.precision
QUANTIZED_TENSORS) as its parameters, and the swap that puts it in place of a block's nn.Linears.

On the CPU (and while exporting) each format runs as one custom op, `ltx_trt::<format>_linear`, whose
implementation is the reference math of model/quantize.py and whose ONNX translation is the pattern
TensorRT builds in low precision (export/quantized_onnx.py). On CUDA, FP8 runs on the tensor cores as
plain ops that torch.compile can fuse. Parameters live on meta until the chain binds each block's.
Imports torch; of ltx_trt, imports core only.
"""

import copy

import torch

from ltx_trt.core.dtypes import storage_shape, torch_dtype
from ltx_trt.core.precision import QUANTIZED_TENSORS, Quantization
from ltx_trt.model import quantize


@torch.library.custom_op("ltx_trt::fp8_linear", mutates_args=())
def fp8_linear(x: torch.Tensor, weight: torch.Tensor, weight_scale: torch.Tensor, input_scale: torch.Tensor,
               bias: torch.Tensor | None) -> torch.Tensor:
    return quantize.fp8_linear_reference(x, weight, weight_scale, input_scale, bias)


@torch.library.custom_op("ltx_trt::int4_linear", mutates_args=())
def int4_linear(x: torch.Tensor, weight: torch.Tensor, weight_scale: torch.Tensor,
                bias: torch.Tensor | None) -> torch.Tensor:
    return quantize.int4_linear_reference(x, weight, weight_scale, bias)


@torch.library.custom_op("ltx_trt::nvfp4_linear", mutates_args=())
def nvfp4_linear(x: torch.Tensor, weight: torch.Tensor, weight_scale: torch.Tensor, weight_scale_2: torch.Tensor,
                 input_scale: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return quantize.nvfp4_linear_reference(x, weight, weight_scale, weight_scale_2, input_scale, bias)


@fp8_linear.register_fake
def _(x, weight, weight_scale, input_scale, bias):
    return x.new_empty((*x.shape[:-1], weight.shape[0]))


@nvfp4_linear.register_fake
def _(x, weight, weight_scale, weight_scale_2, input_scale, bias):
    return x.new_empty((*x.shape[:-1], weight.shape[0]))


@int4_linear.register_fake
def _(x, weight, weight_scale, bias):
    return x.new_empty((*x.shape[:-1], weight.shape[0]))


class QuantLinear(torch.nn.Module):
    """A Linear whose weight is stored in `format`; its tensors are parameters named as in the checkpoints."""

    def __init__(self, format: str, in_features: int, out_features: int, bias: bool, dtype: torch.dtype) -> None:
        super().__init__()
        self.format, self.in_features, self.out_features = format, in_features, out_features
        for suffix, stored, shape in QUANTIZED_TENSORS[format](out_features, in_features):
            self.register_parameter(suffix, _meta(stored, shape))
        self.register_parameter("bias", torch.nn.Parameter(torch.empty(out_features, dtype=dtype, device="meta"),
                                                           requires_grad=False) if bias else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.format == "fp8":
            args = (x, self.weight, self.weight_scale, self.input_scale, self.bias)
            return quantize.fp8_linear_cuda(*args) if x.is_cuda else fp8_linear(*args)
        if self.format == "int4":
            args = (x, self.weight, self.weight_scale, self.bias)
            return quantize.int4_linear_reference(*args) if x.is_cuda else int4_linear(*args)
        # nvfp4: the reference math everywhere (no FP4 tensor cores on the GPUs measured here)
        return nvfp4_linear(x, self.weight, self.weight_scale, self.weight_scale_2, self.input_scale, self.bias)


def _meta(dtype: str, shape: tuple[int, ...]) -> torch.nn.Parameter:
    tensor = torch.empty(storage_shape(dtype, shape), dtype=torch_dtype(dtype), device="meta")
    return torch.nn.Parameter(tensor, requires_grad=False)


def quantized_block(block: torch.nn.Module, quantization: Quantization) -> torch.nn.Module:
    """A copy of `block` (parameters on meta) whose Linears named in `quantization` are QuantLinears."""
    block = copy.deepcopy(block)
    for name in quantization.linears:
        linear = block.get_submodule(name)
        if not isinstance(linear, torch.nn.Linear):
            raise ValueError(f"{name} is a {type(linear).__name__}, not a Linear: it cannot be quantized")
        owner_name, _, attr = name.rpartition(".")
        owner = block.get_submodule(owner_name) if owner_name else block
        setattr(owner, attr, QuantLinear(quantization.format, linear.in_features, linear.out_features,
                                         linear.bias is not None, linear.weight.dtype))
    return block
