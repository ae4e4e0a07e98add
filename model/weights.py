"""Memory-mapped weights: module tensors that are views of the safetensors file's own bytes.

A component is built with its parameters on the meta device (buffers computed at init stay real),
then every tensor is assigned from the file: zero-copy when the file already holds the wanted dtype,
converted otherwise. Each zero-copy tensor's origin (file, key) is remembered by storage address, so
the exporter can point ONNX external data at the same bytes instead of copying 38 GB.
Imports torch only; must not import export/ or build_engines/.
"""

import contextlib
import mmap
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from ltx_trt.runtime.checkpoint import Header, read_header

_TORCH_DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16, "I64": torch.int64,
                 "F8_E4M3": torch.float8_e4m3fn}


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

    _origins: dict[int, Origin] = {}  # data_ptr -> origin, for every zero-copy tensor ever handed out

    def __init__(self, path: Path) -> None:
        self.header: Header = read_header(path)
        with Path(path).open("rb") as f:
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)

    def tensor(self, key: str, dtype: torch.dtype | None = None) -> torch.Tensor:
        info = self.header.tensors[key]
        begin, end = info["data_offsets"]
        stored = _TORCH_DTYPES[info["dtype"]]
        offset = self.header.data_start + begin
        if end == begin:
            return torch.empty(info["shape"], dtype=dtype or stored)
        with warnings.catch_warnings():  # "non-writable buffer": intended, weights are read-only
            warnings.simplefilter("ignore", UserWarning)
            flat = torch.frombuffer(self._map, dtype=torch.uint8, count=end - begin, offset=offset)
        tensor = flat.view(stored).reshape(info["shape"])
        if dtype is not None and dtype != stored:
            return tensor.to(dtype)  # a converted copy: no origin, the exporter writes its own data
        MappedFile._origins[tensor.data_ptr()] = Origin(self.header.path, key, offset, end - begin)
        return tensor


def origin_of(tensor: torch.Tensor) -> Origin | None:
    """Where a zero-copy tensor's bytes live in its file, if it is one (and has the stored layout)."""
    origin = MappedFile._origins.get(tensor.data_ptr())
    if origin is None or not tensor.is_contiguous() or tensor.numel() * tensor.element_size() != origin.nbytes:
        return None
    return origin


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
                     dtype: torch.dtype) -> torch.nn.Module:
    """Assign every state_dict entry from the file (strictly), floating tensors in `dtype`."""
    state = {}
    for module_key, file_key in mapping.items():
        stored = _TORCH_DTYPES[mapped.header.tensors[file_key]["dtype"]]
        state[module_key] = mapped.tensor(file_key, dtype if stored.is_floating_point else None)
    module.load_state_dict(state, strict=True, assign=True)
    leftovers = [name for name, t in list(module.named_parameters()) + list(module.named_buffers()) if t.is_meta]
    if leftovers:
        raise RuntimeError(f"{type(module).__name__}: tensors neither in the file nor computed at init: {leftovers[:4]}")
    return module.eval().requires_grad_(False)
