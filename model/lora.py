"""LoRAs merged into the transformer's weights as the weight store reads them: W + strength x B @ A.

Each targeted weight is merged by ltx-core's own fusion, `ltx_core.loader.apply_loras` (what ModelLedger's
builder runs with the pipeline's dtype), one weight at a time: the merged weights are the official pipeline's
bit for bit, and the graphs, which take weights as inputs, need no re-export and no rebuild. Keys are named
as ltx-core reads them, through its LTXV_LORA_COMFY_RENAMING_MAP: the official files' (ComfyUI's)
`diffusion_model.<module>.lora_A.weight` and bare `<module>.lora_A.weight`. A LoRA file is untrusted: its
header is read strictly and every key checked against the transformer's Linears (pairs complete, rank and
shapes, a float dtype) before any weight is read. Imports torch and ltx-core; of ltx_trt, imports core only.
"""

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ltx_trt.core.compat import install_torchaudio_placeholder
from ltx_trt.core.errors import UserError
from ltx_trt.core.pipelines import LoraSpec
from ltx_trt.core.precision import Quantization
from ltx_trt.core.shapes import ChainWeights
from ltx_trt.model.weights import MappedFile

install_torchaudio_placeholder()
from ltx_core.loader import (  # noqa: E402  (after the torchaudio placeholder)
    LTXV_LORA_COMFY_RENAMING_MAP, LoraStateDictWithStrength, StateDict, apply_loras)

Read = Callable[[str, int, str], torch.Tensor]  # (part, block, name) -> tensor, as model.transformer_parts reads
A, B = ".lora_A.weight", ".lora_B.weight"
FLOATS = ("BF16", "F16", "F32")  # LoRA factor dtypes ltx-core's matmul takes
SHOWN = 4  # offending keys an error names
NAMING = ("ltx-trt reads LoRAs for LTX-2.3's transformer with ltx-core's key naming: "
          "diffusion_model.<module>.lora_A.weight and .lora_B.weight, as the official LoRAs")


@dataclass(frozen=True)
class OpenedLora:
    """One checked LoRA file: its strength, memory map, and its pairs by the weight they target."""

    spec: LoraSpec
    mapped: MappedFile
    pairs: dict[str, tuple[str, str]]  # transformer key (`transformer_blocks.3.attn1.to_q.weight`) -> (A, B) keys

    def state_dict(self, target: str) -> StateDict:
        """The pair for `target`, named as ltx-core's fusion looks it up (empty if this LoRA skips it)."""
        if target not in self.pairs:
            return _state_dict({})
        stem = target.removesuffix(".weight")
        a, b = self.pairs[target]
        return _state_dict({stem + A: self.mapped.tensor(a), stem + B: self.mapped.tensor(b)})


def linear_shapes(layout: ChainWeights) -> dict[str, tuple[int, int]]:
    """transformer key -> [out, in] of every Linear, the weights a LoRA may target (the official distilled
    LoRA targets all 1660 of the 22B transformer)."""
    def linears(params):
        return [(n, tuple(s)) for n, s in params if n.endswith(".weight") and len(s) == 2]

    shapes = dict(linears((*layout.pre, *layout.post)))
    for i in range(layout.blocks):
        shapes.update({f"transformer_blocks.{i}.{n}": s for n, s in linears(layout.block)})
    return shapes


def open_lora(spec: LoraSpec, shapes: dict[str, tuple[int, int]], stored: Quantization | None = None) -> OpenedLora:
    """A LoRA file checked against the transformer's Linears (`shapes`) from its header alone; `stored`: how the
    checkpoint stores its block Linears (LoRAs merge only into high-precision weights)."""
    path = Path(spec.path)
    if not isinstance(spec.strength, (int, float)) or not math.isfinite(spec.strength):
        raise UserError(f"LoRA {path}: strength {spec.strength} is not a finite number",
                        "give a finite strength, e.g. FILE:0.8 (1.0 when omitted)")
    mapped = _mapped(path)
    pairs = _pairs(path, mapped.header, shapes)
    _check_stored(path, pairs, stored)
    return OpenedLora(spec, mapped, pairs)


def _mapped(path: Path) -> MappedFile:
    if not path.is_file():
        raise UserError(f"LoRA file not found: {path}", "pass the path of the LoRA's .safetensors file")
    try:
        mapped = MappedFile(path)
    except UserError as err:
        raise UserError(f"cannot read the LoRA: {err.message}",
                        "pass a LoRA in safetensors format; download it again if it is damaged") from err
    except OSError as err:
        raise UserError(f"cannot read the LoRA {path} ({err.strerror or err})",
                        "pass a readable .safetensors LoRA file") from err
    if not mapped.header.tensors:
        raise UserError(f"LoRA {path} holds no tensors", "pass a LoRA file (lora_A / lora_B pairs)")
    return mapped


def _pairs(path: Path, header, shapes: dict) -> dict[str, tuple[str, str]]:
    """target -> (A key, B key); refuses keys that name no Linear, duplicate names and incomplete pairs."""
    found: dict[str, dict[str, str]] = {}
    unmatched = []
    for key in header.tensors:
        renamed = LTXV_LORA_COMFY_RENAMING_MAP.apply_to_key(key) or ""
        side = next((s for s in (A, B) if renamed.endswith(s)), None)
        target = renamed.removesuffix(side) + ".weight" if side else None
        if target not in shapes:
            unmatched.append(key)
            continue
        if side in found.setdefault(target, {}):
            raise UserError(f"LoRA {path}: {found[target][side]} and {key} both name {target}",
                            "the LoRA holds the same pair under two namings; keep one")
        found[target][side] = key
    if unmatched:
        raise UserError(f"LoRA {path}: no weight of the LTX-2.3 transformer for {_some(unmatched)}", _hint(unmatched))
    for target, sides in found.items():
        _check_pair(path, header, target, sides, shapes[target])
    return {target: (sides[A], sides[B]) for target, sides in found.items()}


def _check_pair(path: Path, header, target: str, sides: dict[str, str], shape: tuple[int, int]) -> None:
    if len(sides) == 1:
        (side, key), = sides.items()
        other = key.removesuffix(side) + (B if side == A else A)
        raise UserError(f"LoRA {path}: {key} has no {other}", "the LoRA is incomplete or damaged: download it again")
    a, b = header.tensors[sides[A]], header.tensors[sides[B]]
    if a["dtype"] not in FLOATS or b["dtype"] != a["dtype"]:
        raise UserError(f"LoRA {path}: {sides[A]} is {a['dtype']} and {sides[B]} is {b['dtype']}",
                        "LoRA factors must share one float dtype (BF16, F16 or F32)")
    a_shape, b_shape = a["shape"], b["shape"]
    out, inner = shape
    if len(a_shape) != 2 or len(b_shape) != 2 or a_shape[0] != b_shape[1]:
        raise UserError(f"LoRA {path}: {sides[A]} {a_shape} and {sides[B]} {b_shape} do not have one rank "
                        f"(A must be [rank, in], B [out, rank])", "the LoRA is damaged: download it again")
    if a_shape[1] != inner or b_shape[0] != out:
        raise UserError(f"LoRA {path}: {sides[A]} {a_shape} and {sides[B]} {b_shape} do not fit {target} "
                        f"{list(shape)} (A must be [rank, {inner}], B [{out}, rank])",
                        "this LoRA was made for another model: use one made for LTX-2.3 22B")


def _check_stored(path: Path, pairs: dict, stored: Quantization | None) -> None:
    """Refuse a LoRA on weights the checkpoint stores quantized (official FP8 / NVFP4 files)."""
    if stored is None:
        return
    hit = [t for t in pairs if _stored_quantized(t, stored)]
    if hit:
        raise UserError(f"LoRA {path} targets {_some(hit)}, which the checkpoint stores quantized ({stored.format})",
                        "LoRAs merge into bf16 weights: use the bf16 checkpoint; --precision quantizes after merging")


def _stored_quantized(target: str, stored: Quantization) -> bool:
    head, _, rest = target.partition(".")
    index, _, linear = rest.partition(".")
    return (head == "transformer_blocks" and int(index) in stored.blocks
            and linear.removesuffix(".weight") in stored.linears)


def _some(keys: list[str]) -> str:
    more = f" (and {len(keys) - SHOWN} more)" if len(keys) > SHOWN else ""
    return ", ".join(keys[:SHOWN]) + more


def _hint(keys: list[str]) -> str:
    if any(k.endswith((".lora_down.weight", ".lora_up.weight", ".alpha")) or k.startswith("lora_unet_") for k in keys):
        return f"this LoRA is kohya-style (lora_down / lora_up / alpha), which ltx-core does not read; {NAMING}"
    return f"{NAMING}, made for this model"


def _state_dict(tensors: dict) -> StateDict:
    device = next(iter(tensors.values())).device if tensors else torch.device("cpu")
    return StateDict(tensors, device, sum(t.nbytes for t in tensors.values()), {t.dtype for t in tensors.values()})


class LoraMerge:
    """A transformer reader (`read(part, block, name)`, as model.transformer_parts.checkpoint_reader) whose
    LoRA-targeted weights come back merged and the others untouched; owns the LoRA files' maps. Merging
    happens as the weight store reads, so `report()` says what was merged so far (weights, seconds)."""

    def __init__(self, read: Read, loras: list[OpenedLora], dtype: torch.dtype | None,
                 device: torch.device | None) -> None:
        self.read, self.loras, self.dtype = read, loras, dtype
        self.device = None if device is None else torch.device(device)
        # ltx-core's builder merges nothing when every strength is 0 (SingleGPUModelBuilder.build)
        active = any(lora.spec.strength != 0 for lora in loras)
        self.targets = {t for lora in loras for t in lora.pairs} if active else set()
        self.merged: set[str] = set()
        self.merges, self.seconds = 0, 0.0

    def __call__(self, part: str, block: int, name: str) -> torch.Tensor:
        weight = self.read(part, block, name)
        key = f"transformer_blocks.{block}.{name}" if part.startswith("block") else name
        if key not in self.targets:
            return weight
        start = time.perf_counter()
        merged = self.merge(key, weight)
        if merged.device.type == "cuda":  # the merge's own time, not the next copy's
            torch.cuda.synchronize(merged.device)
        self.seconds += time.perf_counter() - start
        self.merged.add(key)
        self.merges += 1
        return merged

    def merge(self, key: str, weight: torch.Tensor) -> torch.Tensor:
        """`weight` (the file's `key`) with every LoRA's delta, by ltx-core's apply_loras on `device`."""
        weight = weight.to(self.device or weight.device)
        loras = [LoraStateDictWithStrength(lora.state_dict(key), lora.spec.strength) for lora in self.loras]
        return apply_loras(_state_dict({key: weight}), loras, dtype=self.dtype).sd[key]

    def report(self) -> str:
        """One line: the LoRAs, and what has been merged so far (weights, seconds)."""
        if not self.loras:
            return "LoRAs: none"
        names = ", ".join(f"{Path(lora.spec.path).name} x{lora.spec.strength:g} ({len(lora.pairs)} weights)"
                          for lora in self.loras)
        if not self.targets:
            return f"LoRAs {names}: every strength is 0, nothing merged (as ltx-core)"
        again = f", {self.merges} merges (weights read more than once)" if self.merges > len(self.merged) else ""
        return (f"LoRAs {names}: {len(self.merged)} of {len(self.targets)} transformer weights merged in "
                f"{self.seconds:.2f} s{again}")


def lora_reader(read: Read, loras: list[LoraSpec], layout: ChainWeights, stored: Quantization | None = None,
                dtype: torch.dtype | None = torch.bfloat16, device: torch.device | None = None) -> LoraMerge:
    """`read` with `loras` merged (W + strength x B @ A, summed over the LoRAs as ltx-core sums them).

    `layout`: the transformer's weight names and shapes (ModelFiles.dims.transformer); `stored`: how the
    checkpoint stores its block Linears (ModelFiles.stored_quantization): a LoRA on a stored-quantized weight is
    refused; `dtype`: the dtype ltx-core's builder gets (ModelLedger's, bf16 in ltx-pipelines); `device`: where
    merges run (the run's device, as ltx-core merges on its target device; None: where `read` returns). Every
    file is checked now, from its header; weights are merged when read.
    """
    shapes = linear_shapes(layout)
    return LoraMerge(read, [open_lora(spec, shapes, stored) for spec in loras], dtype, device)
