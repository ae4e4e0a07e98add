"""Memory-mapped weights: module tensors that are views of the safetensors file's own bytes.

A component is built with its parameters on the meta device (buffers computed at init stay real),
then every tensor is assigned from the file: zero-copy when the file already holds the wanted dtype,
converted otherwise. A file answers where a zero-copy tensor's bytes lie in it (`MappedFile.origin`, by
address within its mapping), so the exporter can point ONNX external data at the same bytes instead of
copying 38 GB. Imports torch and ltx_trt.core only.
"""

import contextlib
import mmap
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from ltx_trt.core.checkpoint import Header, read_header
from ltx_trt.core.dtypes import BY_SAFETENSORS, torch_dtype

@dataclass(frozen=True)
class Origin:
    path: Path
    key: str
    offset: int  # absolute byte offset in the file
    nbytes: int


class MappedFile:
    """A safetensors file mapped read-only: tensors are views of the page cache, never RAM copies.

    Read-only (not copy-on-write): a private writable mapping of a 46 GB file is refused by the
    kernel's overcommit accounting on a 24 GB machine (ENOMEM). Weights are never written in place.
    """

    def __init__(self, path: Path) -> None:
        self.header: Header = read_header(path)
        with Path(path).open("rb") as f:
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self._base = self._bytes(0, 1).data_ptr()  # the mapping's address: tensors' offsets are relative to it
        self._keys = {self.header.data_start + info["data_offsets"][0]: key
                      for key, info in self.header.tensors.items() if info["data_offsets"][1] > info["data_offsets"][0]}

    def tensor(self, key: str, dtype: torch.dtype | None = None) -> torch.Tensor:
        info = self.header.tensors[key]
        begin, end = info["data_offsets"]
        stored = torch_dtype(BY_SAFETENSORS[info["dtype"]].name)
        offset = self.header.data_start + begin
        if end == begin:
            return torch.empty(info["shape"], dtype=dtype or stored)
        tensor = self._bytes(offset, end - begin).view(stored).reshape(info["shape"])
        if dtype is not None and dtype != stored:
            return tensor.to(dtype)  # a converted copy: not in the file, the exporter writes its own data
        return tensor

    def origin(self, tensor: torch.Tensor) -> Origin | None:
        """Where `tensor`'s bytes lie in this file, if it is an unchanged view of one whole stored tensor."""
        if tensor.device.type != "cpu" or not tensor.is_contiguous():
            return None
        offset = tensor.data_ptr() - self._base
        key = self._keys.get(offset)
        if key is None:
            return None
        begin, end = self.header.tensors[key]["data_offsets"]
        if tensor.numel() * tensor.element_size() != end - begin:
            return None
        return Origin(self.header.path, key, offset, end - begin)

    def _bytes(self, offset: int, count: int) -> torch.Tensor:
        with warnings.catch_warnings():  # "non-writable buffer": intended, weights are read-only
            warnings.simplefilter("ignore", UserWarning)
            return torch.frombuffer(self._map, dtype=torch.uint8, count=count, offset=offset)


def origin_of(tensor: torch.Tensor, files: list[MappedFile]) -> Origin | None:
    """The origin of a zero-copy tensor in whichever of `files` it views, or None (a copy, or not a weight)."""
    return next((o for o in (f.origin(tensor) for f in files) if o is not None), None)


@contextlib.contextmanager
def parameters_on_meta():
    """Create parameters on the meta device while buffers (computed at init) stay real."""
    original = torch.nn.Module.register_parameter

    def register(module, name, param):
        if param is not None and not param.is_meta:
            param = torch.nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)
        original(module, name, param)

    torch.nn.Module.register_parameter = register
    try:
        yield
    finally:
        torch.nn.Module.register_parameter = original


def assign_from_file(module: torch.nn.Module, mapped: MappedFile, mapping: dict[str, str],
                     dtype: torch.dtype, given: dict[str, torch.Tensor] | None = None) -> torch.nn.Module:
    """Assign every state_dict entry from the file (strictly), floating tensors in `dtype`; `given` tensors
    (module key -> tensor, e.g. dequantized weights) instead of the file's."""
    state = dict(given or {})
    for module_key, file_key in mapping.items():
        if module_key in state:
            continue
        stored = torch_dtype(BY_SAFETENSORS[mapped.header.tensors[file_key]["dtype"]].name)
        state[module_key] = mapped.tensor(file_key, dtype if stored.is_floating_point else None)
    module.load_state_dict(state, strict=True, assign=True)
    leftovers = [name for name, t in list(module.named_parameters()) + list(module.named_buffers()) if t.is_meta]
    if leftovers:
        raise RuntimeError(f"{type(module).__name__}: tensors neither in the file nor computed at init: {leftovers[:4]}")
    return module.eval().requires_grad_(False)
