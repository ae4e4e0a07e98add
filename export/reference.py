"""Reference inputs and outputs from PyTorch, saved next to each ONNX for later stages to check against.

Inputs are stored whole; large outputs are stored as a fixed, evenly spaced sample of their elements
with the sample's indices. bf16 and fp8 tensors are stored as float32 (exact), packed 4-bit ones as their
uint8 bytes. `read_reference` reads a file back. Imports torch and numpy.
"""

from pathlib import Path

import numpy as np
import torch

SAMPLE_ABOVE = 1 << 20  # outputs with more elements than this are sampled
SAMPLE_SIZE = 1 << 16


def _array(tensor: torch.Tensor) -> np.ndarray:
    tensor = tensor.detach().cpu()
    return (tensor.float() if tensor.is_floating_point() else tensor).numpy()


def sample_indices(numel: int) -> np.ndarray:
    return np.linspace(0, numel - 1, SAMPLE_SIZE).astype(np.int64)


def write_reference(path: Path, names_in, inputs, names_out, outputs) -> None:
    arrays = {f"input.{n}": _array(t) for n, t in zip(names_in, inputs)}
    for name, tensor in zip(names_out, outputs):
        values = _array(tensor)
        if values.size > SAMPLE_ABOVE:
            index = sample_indices(values.size)
            arrays[f"sample.{name}"] = index
            values = values.reshape(-1)[index]
        arrays[f"output.{name}"] = values
    tmp = path.with_name(path.name + ".partial.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def read_reference(path: Path) -> tuple[dict, dict]:
    """(inputs by name, outputs by name as (values, sample indices or None)) of a file write_reference wrote;
    callers confine and verify `path` first (core.trust). No pickled objects are loaded."""
    with np.load(path, allow_pickle=False) as data:
        inputs = {k[len("input."):]: data[k] for k in data.files if k.startswith("input.")}
        outputs = {k[len("output."):]: (data[k], data[f"sample.{k[len('output.'):]}"]
                                         if f"sample.{k[len('output.'):]}" in data.files else None)
                   for k in data.files if k.startswith("output.")}
    return inputs, outputs
