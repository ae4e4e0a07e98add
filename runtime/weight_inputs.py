"""The weights of the one-graph components (connector, upsampler, decoders), bound as their graphs' inputs.

Their graphs take every weight as a `weight.*` input (model/weight_inputs.py), so that engines hold no
checkpoint value. `BoundWeights` is an executor over another: for such a graph it reads the component's
tensors once (`read(component)`, the model's state_reader), keeps them on the run's device, adds them to
the caller's activations and runs the inner executor; it drops them when the run releases the last graph
of that component. Other graphs pass straight through. Imports torch and ltx_trt.core / runtime only.
"""

from typing import Callable

import torch

from ltx_trt.core.plan import Graph
from ltx_trt.core.shapes import WEIGHT_PREFIX


class BoundWeights:
    """Runs graphs with `weight.*` inputs that are not chained, binding their component's weights."""

    def __init__(self, inner, graphs: list[Graph], read: Callable[[str], dict[str, torch.Tensor]],
                 device: torch.device) -> None:
        self.inner, self.read, self.device = inner, read, torch.device(device)
        self.graphs = {g.key: g for g in graphs if not g.parts and len(g.activations) < len(g.inputs)}
        self.weights: dict[str, dict[str, torch.Tensor]] = {}  # component -> input name -> tensor on the device

    def run(self, graph_key: str, inputs: dict[str, torch.Tensor], outputs: dict[str, torch.Tensor]) -> None:
        graph = self.graphs.get(graph_key)
        if graph is None:
            self.inner.run(graph_key, inputs, outputs)
            return
        weights = self.weights.get(graph.component)
        if weights is None:
            weights = {WEIGHT_PREFIX + name: t.to(self.device) for name, t in self.read(graph.component).items()}
            self.weights[graph.component] = weights
        feeds = {s.name: (weights if s.name.startswith(WEIGHT_PREFIX) else inputs)[s.name] for s in graph.inputs}
        self.inner.run(graph_key, feeds, outputs)

    def release(self, graph_keys: list[str]) -> None:
        """Done with these graphs: a component's weights go with its last graph."""
        for key in graph_keys:
            graph = self.graphs.pop(key, None)
            if graph is not None and not any(g.component == graph.component for g in self.graphs.values()):
                self.weights.pop(graph.component, None)
        self.inner.release(graph_keys)


def bound_weights(inner, graphs: list[Graph], read: Callable[[str], dict[str, torch.Tensor]], device) -> BoundWeights:
    return BoundWeights(inner, graphs, read, device)
