"""The PyTorch executor: runs the plain-tensor component modules of ltx_trt.model.

Contract (model/graph_modules.py): each graph's module takes the graph's inputs in spec order and
returns its outputs in spec order. Results are copied into the caller's output buffers, so the
loop sees the same buffers whatever executor runs. The module's own activations are allocated by
PyTorch as usual (inside a CUDA graph they come from the graph's private pool).
Imports torch only; the modules are built by the caller.
"""

import torch


class TorchExecutor:
    """Owns the component modules, keyed by graph key (e.g. `transformer.768x512-5s.stage1`)."""

    def __init__(self, modules: dict[str, torch.nn.Module]) -> None:
        self.modules = dict(modules)

    def release(self, graph_keys: list[str]) -> None:
        """Drop these modules (and the weights only they hold)."""
        for key in graph_keys:
            self.modules.pop(key, None)

    def run(self, graph_key: str, inputs: dict[str, torch.Tensor], outputs: dict[str, torch.Tensor]) -> None:
        if graph_key not in self.modules:
            raise KeyError(f"no module for graph {graph_key!r}; have {sorted(self.modules)}")
        with torch.no_grad():
            results = self.modules[graph_key](*inputs.values())
        results = (results,) if isinstance(results, torch.Tensor) else tuple(results)
        if len(results) != len(outputs):
            raise ValueError(f"{graph_key}: module returned {len(results)} tensors for outputs {list(outputs)}")
        for (name, buffer), value in zip(outputs.items(), results):
            if value.shape != buffer.shape:
                raise ValueError(f"{graph_key}: output {name} has shape {tuple(value.shape)}, "
                                 f"the buffer {tuple(buffer.shape)}")
            buffer.copy_(value)
