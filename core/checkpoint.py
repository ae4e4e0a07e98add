"""Reading and identifying an official LTX checkpoint from its safetensors header alone.

No tensor is loaded: the first 8 bytes give the header length, the header is JSON with the tensor
table and `__metadata__` (`config` JSON string, `model_version`). The table is checked against the
file's size when read, so a truncated or inconsistent file never reaches a memory-mapped read. Pure Python.
"""

import hashlib
import json
import struct
from dataclasses import dataclass
from pathlib import Path

from ltx_trt.core.dtypes import BY_SAFETENSORS, nbytes
from ltx_trt.core.errors import UserError
from ltx_trt.core.precision import NVFP4_BLOCK, Quantization, tiled_scale_shape

MAX_HEADER_BYTES = 256 * 1024 * 1024
SUPPORTED_VERSION = "2.3"


@dataclass(frozen=True)
class Header:
    path: Path
    tensors: dict  # key -> {"dtype", "shape", "data_offsets"}
    metadata: dict  # the raw string-to-string `__metadata__`
    data_start: int  # byte offset of the data section (8 + header length)
    fingerprint: str  # sha256 of the header bytes and the file size: cheap identity for staleness checks

    @property
    def config(self) -> dict:
        return json.loads(self.metadata["config"])


def read_header(path: Path) -> Header:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}", "pass the path of the .safetensors file with --checkpoint")
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        (length,) = struct.unpack("<Q", head) if len(head) == 8 else (None,)
        if length is None or length > min(size - 8, MAX_HEADER_BYTES):
            raise UserError(f"{path} is not a safetensors file (corrupt or truncated header)",
                            "re-download the checkpoint; its first 8 bytes must give the header length")
        raw = f.read(length)
    try:
        table = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"{path} has a corrupt safetensors header ({err})", "re-download the checkpoint") from err
    metadata = (table.pop("__metadata__", None) or {}) if isinstance(table, dict) else None
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise UserError(f"{path} has a corrupt safetensors header (not a JSON object, or metadata not strings)",
                        "re-download the checkpoint")
    check_tensor_table(path, table, size - 8 - length)
    fingerprint = hashlib.sha256(raw + str(size).encode()).hexdigest()
    return Header(path, table, metadata, 8 + length, fingerprint)


def check_tensor_table(path: Path, table: dict, data_bytes: int) -> None:
    """Refuse a tensor table inconsistent with its file: each entry a dtype ltx-trt reads, a shape, and
    [begin, end) offsets holding dtype size x element count bytes, no two overlapping, all within the data
    section. A truncated file is refused here, before any tensor is read (a mapped read past its end is a
    SIGBUS). Unused bytes between or after tensors are harmless and let through."""
    hint = "the file is incomplete or damaged: download it again"
    spans = []
    for key, info in table.items():
        problem = _entry_problem(info)
        if problem:
            raise UserError(f"{path}: tensor {key} {problem}", hint)
        spans.append((*info["data_offsets"], key))
    end = 0
    for begin, stop, key in sorted(spans):
        if begin < end:
            raise UserError(f"{path}: tensor {key} starts at data byte {begin}, inside the tensor before it "
                            f"(which ends at {end})", hint)
        end = stop
    if end > data_bytes:
        raise UserError(f"{path} is truncated: its header describes {end} bytes of tensor data, the file holds "
                        f"{data_bytes}", hint)


def _entry_problem(info) -> str | None:
    """What is wrong with one tensor's header entry, or None."""
    if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= info.keys():
        return "has no dtype, shape or data_offsets"
    shape, offsets = info["shape"], info["data_offsets"]
    if not isinstance(info["dtype"], str) or info["dtype"] not in BY_SAFETENSORS:
        return f"has dtype {info['dtype']!r}, which ltx-trt does not read"
    if not _naturals(shape) or not _naturals(offsets) or len(offsets) != 2 or offsets[1] < offsets[0]:
        return f"has a malformed shape {shape} or data_offsets {offsets}"
    needed = nbytes(BY_SAFETENSORS[info["dtype"]].name, tuple(shape))
    if offsets[1] - offsets[0] != needed:
        return f"holds {offsets[1] - offsets[0]} bytes; {info['dtype']} {shape} needs {needed}"
    return None


def _naturals(values) -> bool:
    return isinstance(values, list) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values)


def describe(header: Header) -> str:
    """What this file appears to be, for error messages."""
    keys = header.tensors.keys()
    if any("lora_A" in k or "lora_B" in k or ".lora_" in k for k in keys):
        return "a LoRA (it holds lora_A/lora_B tensors)"
    version = header.metadata.get("model_version", "")
    if "config" not in header.metadata:
        return f"a safetensors file without an LTX config in its metadata ({len(keys)} tensors)"
    if version:
        return f"an LTX checkpoint with model_version {version!r}"
    transformer = json.loads(header.metadata["config"]).get("transformer", {})
    if not transformer.get("apply_gated_attention", False):
        return "an LTX-2 (19B) checkpoint (no gated attention in its config)"
    return "an LTX checkpoint without model_version"


def check_ltx23(header: Header) -> dict:
    """Return the architecture config of an LTX-2.3 checkpoint, or refuse the file with what it is."""
    version = header.metadata.get("model_version", "")
    if not version.startswith(SUPPORTED_VERSION) or "config" not in header.metadata:
        raise UserError(f"{header.path} is {describe(header)}, not LTX-2.3",
                        "ltx-trt supports LTX-2.3 only: use ltx-2.3-22b-distilled.safetensors or ltx-2.3-22b-dev.safetensors")
    try:
        config = header.config
    except json.JSONDecodeError as err:
        raise UserError(f"{header.path}: the config in its metadata is not valid JSON ({err})",
                        "re-download the checkpoint") from err
    missing = [s for s in ("transformer", "vae", "audio_vae", "vocoder") if s not in config]
    if missing:
        raise UserError(f"{header.path}: config lacks the section(s) {', '.join(missing)}",
                        "this is not a complete LTX-2.3 single-file checkpoint")
    return config


BLOCKS_PREFIX = "model.diffusion_model.transformer_blocks."


def _scalar(rows: int, cols: int) -> tuple[tuple, ...]:
    return (), (1,)


def _tiled_block_scales(rows: int, cols: int) -> tuple[tuple, ...]:
    return (tiled_scale_shape(rows, cols * 2 // NVFP4_BLOCK),)  # cols: bytes of two codes each


# The official pre-quantized LTX-2.3 files: a quantized Linear's `.weight` dtype names its format; its
# companions sit beside it with these dtypes and the shapes allowed for a [rows, cols] weight
# (docs/DESIGN.md "Precision").
STORED_FORMATS = {
    "F8_E4M3": ("fp8", {"weight_scale": ("F32", _scalar), "input_scale": ("F32", _scalar)}),
    "U8": ("nvfp4", {"weight_scale": ("F8_E4M3", _tiled_block_scales), "weight_scale_2": ("F32", _scalar),
                     "input_scale": ("F32", _scalar)}),
}


def stored_quantization(header: Header, prefix: str = BLOCKS_PREFIX) -> Quantization | None:
    """How a checkpoint stores its block Linears: None (plain), or the format, blocks and Linear names of
    an official FP8 / NVFP4 file. Refuses a file whose quantized weights lack their scales or have them in
    another dtype or shape, or whose quantized blocks do not all quantize the same Linears."""
    found: dict[int, set[str]] = {}
    formats = set()
    for key, info in header.tensors.items():
        if not key.startswith(prefix) or not key.endswith(".weight") or info["dtype"] not in STORED_FORMATS:
            continue
        index, _, linear = key[len(prefix):-len(".weight")].partition(".")
        format, companions = STORED_FORMATS[info["dtype"]]
        _check_companions(header, key, format, companions)
        found.setdefault(int(index), set()).add(linear)
        formats.add(format)
    if not found:
        return None
    linears = next(iter(found.values()))
    if len(formats) > 1 or any(names != linears for names in found.values()):
        raise UserError(f"{header.path}: its blocks quantize different Linears or formats ({', '.join(sorted(formats))})",
                        "ltx-trt reads files whose quantized blocks all quantize the same Linears in one format")
    return Quantization(formats.pop(), tuple(sorted(found)), tuple(sorted(linears)))


def _check_companions(header: Header, key: str, format: str, companions: dict) -> None:
    shape = header.tensors[key]["shape"]
    hint = "the quantized checkpoint is incomplete or damaged: re-download it, or use the bf16 checkpoint"
    if len(shape) != 2:
        raise UserError(f"{header.path}: {key} is {format} with shape {shape}, not a matrix", hint)
    missing = [c for c in companions if f"{key[:-len('weight')]}{c}" not in header.tensors]
    if missing:
        raise UserError(f"{header.path}: {key} is {format} but the file has no {', '.join(missing)} for it", hint)
    for companion, (dtype, allowed) in companions.items():
        info = header.tensors[f"{key[:-len('weight')]}{companion}"]
        if info["dtype"] != dtype or tuple(info["shape"]) not in allowed(*shape):
            raise UserError(f"{header.path}: {key[:-len('weight')]}{companion} is {info['dtype']} {info['shape']}; "
                            f"a {format} weight of shape {shape} needs {dtype} {list(allowed(*shape)[0])}", hint)
