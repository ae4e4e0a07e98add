"""Weights as graph inputs for the components that run as one graph: connector, upsampler, decoders.

Their graphs take every state_dict tensor (parameters and stored buffers, e.g. latent statistics) as a
`weight.<state_dict name>` input, as the chained transformer and text encoder take theirs, so that no
engine holds a value of the checkpoint: one engine serves every checkpoint of the architecture. Buffers
computed at init (the audio resampler's filter, RoPE grids) are functions of the config and stay in the
graph. The runtime binds the tensors (runtime/weight_inputs.py) from `state_reader`, which loads them
exactly as export's and the torch executor's modules are loaded (same dtypes, same bytes).
Imports torch; of ltx_trt, imports core and model.
"""

import dataclasses
from typing import Callable

import torch

from ltx_trt.core.dtypes import torch_dtype
from ltx_trt.core.plan import ACTIVATIONS, Graph
from ltx_trt.core.shapes import WEIGHT_PREFIX
from ltx_trt.model.graph_modules import PartGraph

WHOLE = ("connector", "upsampler", "video_encoder", "video_decoder", "audio_decoder")  # the one-graph components


def layout(module: torch.nn.Module) -> tuple[tuple[str, tuple[int, ...], str | None], ...]:
    """(name, shape, dtype) of every state_dict tensor; dtype None for floating ones (they take the graph's)."""
    return tuple((name, tuple(t.shape), None if t.dtype.is_floating_point else str(t.dtype).removeprefix("torch."))
                 for name, t in module.state_dict().items())


def whole_layouts(files) -> tuple:
    """The `ModelDims.weights` of a model: each one-graph component's layout, from its skeleton (parameters on
    meta), so from the configs alone."""
    from ltx_trt.model.graph_modules import component_model

    present = [c for c in WHOLE if c != "upsampler" or files.has_upsampler()]
    return tuple((c, layout(component_model(c).skeleton(files, torch.float32))) for c in present)


def weights_as_inputs(wrap: Callable) -> Callable:
    """A ComponentModel.wrap whose module takes the graph's `weight.*` inputs after its activations and runs the
    wrapped module with those tensors in place of the component's own (model/graph_modules.py PartGraph)."""

    def wrapped(module: torch.nn.Module, graph: Graph) -> torch.nn.Module:
        names = [s.name[len(WEIGHT_PREFIX):] for s in graph.inputs if s.name.startswith(WEIGHT_PREFIX)]
        inner = wrap(module, graph)
        return PartGraph(inner, module, names).eval() if names else inner

    return wrapped


def with_weight_examples(example_inputs: Callable) -> Callable:
    """A ComponentModel.example_inputs that appends the module's own tensors for the graph's weight inputs."""

    def examples(module: torch.nn.Module, graph: Graph, seed: int) -> list[torch.Tensor]:
        activations = example_inputs(module, dataclasses.replace(graph, inputs=graph.activations), seed)
        state = module.state_dict()
        weights = [state[s.name[len(WEIGHT_PREFIX):]].to(torch_dtype(s.dtype))
                   for s in graph.inputs if s.name.startswith(WEIGHT_PREFIX)]
        return [*activations, *weights]

    return examples


def state_reader(files, precision: dict) -> Callable[[str], dict[str, torch.Tensor]]:
    """component -> its state_dict tensors in its graph's dtype, memory-mapped from the model's files where the
    file holds that dtype (the module export and the torch executor built before weights became inputs)."""
    from ltx_trt.model.graph_modules import component_model

    def read(component: str) -> dict[str, torch.Tensor]:
        dtype = torch_dtype(ACTIVATIONS[precision[component]])
        return component_model(component).build(files, dtype).state_dict()

    return read
