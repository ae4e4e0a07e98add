"""The contract between a component and the stages that export or run it.

For each component: how to build its ltx-core module from the model's files (weights memory-mapped),
how to wrap it into a plain-tensor module whose forward takes the graph's inputs in spec order and
returns its outputs in spec order, which overrides export needs, and valid random example inputs
(for reference outputs and parity tests). Imports torch; of ltx_trt, imports core only.
"""

import contextlib
from dataclasses import dataclass
from typing import Callable, ContextManager

import torch

from ltx_trt.core.dtypes import torch_dtype
from ltx_trt.core.plan import Graph


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
    # (files, dtype) -> the module without weights (parameters on meta, computed buffers real): for a
    # component whose graphs take their weights as inputs (runtime/chain.py binds them); None: use build
    skeleton: Callable | None = None


class PartGraph(torch.nn.Module):
    """forward(*activations, *weights) in the part graph's input order -> its outputs.

    The ltx-core modules are held outside the registered submodules, so the exporter sees a module
    without parameters; for the call, exactly the part's parameters are swapped for the weight
    inputs (`_bound`), so the others are never touched and all of them may live on meta.
    `torch.func.functional_call` is not used: under the exporter it visits every parameter of the
    module it is given (22B of them for the transformer's pre/post at full size) and copies them.
    """

    def __init__(self, inner: torch.nn.Module, root: torch.nn.Module, weight_names: list[str]) -> None:
        super().__init__()
        self.__dict__["inner"] = inner.eval()  # not a submodule, see above
        self.__dict__["root"] = root  # the module the weight names are relative to
        self.weight_names = weight_names

    def compile(self) -> "PartGraph":
        """Run the part's module through torch.compile (it fuses elementwise work, FP8 activation
        quantization included, into the kernels around it); the weights are still bound at each call,
        as inputs of the compiled graph, so one compilation serves every block of a shape."""
        self.__dict__["inner"] = torch.compile(self.inner, dynamic=False)
        return self

    def forward(self, *args):
        n = len(args) - len(self.weight_names)
        with _bound(self.root, {name: w for name, w in zip(self.weight_names, args[n:])}):
            return self.inner(*args[:n])


@contextlib.contextmanager
def _bound(root: torch.nn.Module, tensors: dict[str, torch.Tensor]):
    """Within the block, each named parameter (or stored buffer) of `root` reads as the given tensor."""
    saved = []
    for name, tensor in tensors.items():
        owner_name, _, attr = name.rpartition(".")
        owner = root.get_submodule(owner_name)
        table = owner._parameters if attr in owner._parameters else owner._buffers  # stored buffers too
        if attr not in table:
            raise KeyError(f"{name} is neither a parameter nor a buffer of {type(root).__name__}")
        saved.append((table, attr, table[attr]))
        table[attr] = tensor
    try:
        yield
    finally:
        for table, attr, original in saved:
            table[attr] = original


def component_model(component: str) -> ComponentModel:
    """The ComponentModel of one component (imports its module lazily: they pull in ltx-core parts)."""
    if component == "transformer":
        from ltx_trt.model import transformer_graph as module
    elif component == "text_encoder":
        from ltx_trt.model import text_parts as module
    elif component == "connector":
        from ltx_trt.model import text_graphs as module
    else:
        from ltx_trt.model import decoder_graphs as module
    return module.COMPONENTS[component]


def random_like_spec(spec, generator: torch.Generator) -> torch.Tensor:
    """Standard-normal floats (or zeros for ints) with a spec's shape and dtype."""
    dtype = torch_dtype(spec.dtype)
    if not dtype.is_floating_point:
        return torch.zeros(spec.shape, dtype=dtype)
    return torch.randn(spec.shape, generator=generator).to(dtype)


def call_wrapped(wrapper: torch.nn.Module, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
    with torch.no_grad():
        outputs = wrapper(*inputs)
    return list(outputs) if isinstance(outputs, (tuple, list)) else [outputs]


__all__ = ["ComponentModel", "Graph", "PartGraph", "component_model", "random_like_spec", "call_wrapped"]
