"""The contract between a component and the stages that export or run it.

For each component: how to build its ltx-core module from the model's files (weights memory-mapped),
how to wrap it into a plain-tensor module whose forward takes the graph's inputs in spec order and
returns its outputs in spec order, which overrides export needs, and valid random example inputs
(for reference outputs and parity tests). Imports torch; must not import export/ or build_engines/.
"""

import contextlib
from dataclasses import dataclass
from typing import Callable, ContextManager

import torch

from ltx_trt.runtime.plan import Graph

TORCH_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "int64": torch.int64}


@dataclass(frozen=True)
class ComponentModel:
    # (files: ModelFiles, dtype) -> the loaded ltx-core module(s), eval mode, weights from the files
    build: Callable
    # (module, graph) -> nn.Module with forward(*inputs in graph order) -> tuple(outputs in graph order)
    wrap: Callable
    # () -> context manager active while tracing for ONNX (never while running in torch)
    export_overrides: Callable[[], ContextManager] = contextlib.nullcontext
    # (module, graph, seed) -> list of valid input tensors, in graph order, in the graph's dtypes
    example_inputs: Callable | None = None


def component_model(component: str) -> ComponentModel:
    """The ComponentModel of one component (imports its module lazily: they pull in ltx-core parts)."""
    if component == "transformer":
        from ltx_trt.model import transformer_graph as module
    elif component in ("text_encoder", "connector"):
        from ltx_trt.model import text_graphs as module
    else:
        from ltx_trt.model import decoder_graphs as module
    return module.COMPONENTS[component]


def random_like_spec(spec, generator: torch.Generator) -> torch.Tensor:
    """Standard-normal floats (or zeros for ints) with a spec's shape and dtype."""
    dtype = TORCH_DTYPES[spec.dtype]
    if not dtype.is_floating_point:
        return torch.zeros(spec.shape, dtype=dtype)
    return torch.randn(spec.shape, generator=generator).to(dtype)


def call_wrapped(wrapper: torch.nn.Module, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
    with torch.no_grad():
        outputs = wrapper(*inputs)
    return list(outputs) if isinstance(outputs, (tuple, list)) else [outputs]


__all__ = ["ComponentModel", "Graph", "component_model", "random_like_spec", "call_wrapped", "TORCH_DTYPES"]
