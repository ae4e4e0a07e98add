"""Executors: what runs a graph. The denoise loop and the pipeline do not care which one holds the math.

An executor reads the caller's input buffers and writes into the caller's output buffers (torch
tensors allocated once from the graph's specs, keyed by ONNX I/O name, in spec order); it allocates
no buffer the caller sees. Implementations: TorchExecutor (ltx-core modules), OnnxRuntimeExecutor
(the exported ONNX), TensorRTExecutor (the engines). Imports neither export nor build_engines.
"""

from typing import Protocol

import torch

from ltx_trt.core.dtypes import torch_dtype



class Executor(Protocol):
    def run(self, graph_key: str, inputs: dict[str, torch.Tensor], outputs: dict[str, torch.Tensor]) -> None:
        """Run graph `graph_key` on `inputs`, writing its results into `outputs` (both in spec order)."""
        ...

    def release(self, graph_keys: list[str]) -> None:
        """Free what these graphs hold (engines, sessions, modules): the run is done with them."""
        ...


def allocate(specs, device: torch.device) -> dict[str, torch.Tensor]:
    """Zero-filled buffers for a graph's tensor specs, in spec order: the one place I/O is allocated."""
    return {s.name: torch.zeros(s.shape, dtype=torch_dtype(s.dtype), device=device) for s in specs}
