"""The transformer's weights for the block chain: read from the checkpoint once, resident or streamed.

Every block's parameters are packed into one contiguous byte buffer with a fixed layout per kind of
block (plain or quantized: core.shapes.ChainWeights.part_of; the same offsets for every block of a
kind), so that a block is one copy and a slot of device memory, as large as the largest, holds any block.
Each tensor keeps its own dtype (FP8 codes, fp32 scales, packed INT4 as uint8 next to bf16 biases).
Blocks 0..k-1 stay on the device (k from the byte budget); the others live in pinned host memory and
are copied into one of two device slots on a copy stream, ahead of use: block j+2's copy starts as
soon as block j has finished with the slot, so copies overlap compute. All of it is plain stream and
event work on preallocated buffers, so a step that uses the store can be captured in a CUDA graph.
Imports torch and ltx_trt.core / runtime only (the checkpoint tensors come from a callable).
"""

import math
from dataclasses import dataclass
from typing import Callable

import psutil
import torch

from ltx_trt.core.dtypes import storage_shape, torch_dtype
from ltx_trt.core.errors import UserError
from ltx_trt.core.shapes import WEIGHT_PREFIX, ChainWeights

ALIGN = 256  # bytes: every tensor of a pack starts on a 256-byte boundary
HOST_RESERVE = 2 * 2**30  # bytes of RAM left to everything else when pinning the streamed blocks


@dataclass(frozen=True)
class PackLayout:
    """Where each named tensor of a part lives inside its byte buffer."""

    # (input name, storage shape, torch dtype, offset, nbytes)
    entries: tuple[tuple[str, tuple[int, ...], torch.dtype, int, int], ...]
    nbytes: int

    @classmethod
    def of(cls, params, dtype: torch.dtype) -> "PackLayout":
        """params: (name, shape, dtype name or None for `dtype`), as ChainWeights.params gives them."""
        entries, offset = [], 0
        for name, shape, own in params:
            stored = torch_dtype(own) if own else dtype
            shape = storage_shape(own, shape) if own else tuple(shape)
            n = torch.empty((), dtype=stored).element_size() * math.prod(shape)
            entries.append((WEIGHT_PREFIX + name, shape, stored, offset, n))
            offset += -(-n // ALIGN) * ALIGN
        return cls(tuple(entries), offset)

    def views(self, buffer: torch.Tensor) -> dict[str, torch.Tensor]:
        return {name: buffer[o:o + n].view(dtype).view(shape) for name, shape, dtype, o, n in self.entries}


class WeightStore:
    """Weights of pre, post and the blocks, as the graph inputs the chain binds (`weight.*` names).

    `read(part, block, name)` returns a weight input's tensor (any device; `part` is the block's part,
    "block" or "block_<format>", with that part's dtypes); `budget_bytes` caps what the blocks may keep
    on the device (None: all resident).
    """

    def __init__(self, layout: ChainWeights, read: Callable[[str, int, str], torch.Tensor],
                 dtype: torch.dtype, device: torch.device, budget_bytes: int | None = None) -> None:
        self.device, self.read = torch.device(device), read
        self.kinds = [layout.part_of(i) for i in range(layout.blocks)]
        self.layouts = {part: PackLayout.of(layout.params(part), dtype) for part in ("pre", "post", *set(self.kinds))}
        self.parts = {part: self._pack(part, 0, self.device) for part in ("pre", "post")}
        fixed = self.layouts["pre"].nbytes + self.layouts["post"].nbytes
        sizes = [self.layouts[kind].nbytes for kind in self.kinds]
        count = resident_blocks(sizes, fixed, budget_bytes) if self.device.type == "cuda" else layout.blocks
        self.resident = [self._pack(self.kinds[i], i, self.device) for i in range(count)]  # CPU: all "resident"
        self.streamed = list(range(count, layout.blocks))
        if self.streamed:
            require_host_memory(sum(sizes[count:]), len(self.streamed))
        self._host = [self._buffer(self.kinds[i], i, torch.device("cpu"), pin=True) for i in self.streamed]
        slot_bytes = max(sizes[count:], default=0)
        self._slots = [torch.empty(slot_bytes, dtype=torch.uint8, device=self.device)
                       for _ in range(min(2, len(self.streamed)))]
        # each slot seen through every streamed kind's layout, made once (block() runs per block, per step)
        self._slot_views = [{kind: self.layouts[kind].views(slot) for kind in set(self.kinds[count:])}
                            for slot in self._slots]
        if self.streamed:
            self._copy = torch.cuda.Stream(self.device)
            self._ready = [torch.cuda.Event() for _ in self._slots]
            self._free = [torch.cuda.Event() for _ in self._slots]
        self.device_bytes = fixed + sum(sizes[:count]) + len(self._slots) * slot_bytes
        self.read = None  # everything is copied: the checkpoint's pages are not needed any more

    def begin(self) -> None:
        """Start of a chain pass: start copying the first two streamed blocks (they overlap the resident ones)."""
        if not self.streamed:
            return
        self._copy.wait_stream(torch.cuda.current_stream(self.device))
        for slot in range(len(self._slots)):
            self._prefetch(slot, slot, wait_free=False)

    def block(self, i: int) -> dict[str, torch.Tensor]:
        """Block i's weights on the device; for a streamed block the current stream waits for its copy."""
        if i < len(self.resident):
            return self.resident[i]
        slot = self.streamed.index(i) % 2
        torch.cuda.current_stream(self.device).wait_event(self._ready[slot])
        return self._slot_views[slot][self.kinds[i]]

    def done(self, i: int) -> None:
        """Block i has been enqueued: its slot is free once that work is done, and takes block i + 2 next."""
        if i < len(self.resident):
            return
        index = self.streamed.index(i)
        slot = index % 2
        self._free[slot].record(torch.cuda.current_stream(self.device))
        if index + 2 < len(self.streamed):
            self._prefetch(index + 2, slot, wait_free=True)

    def close(self) -> None:
        """Drop every weight buffer (device and pinned host memory)."""
        self.parts, self.resident, self.streamed = {}, [], []
        self._host, self._slots, self._slot_views = [], [], []
        self.device_bytes = 0

    def _prefetch(self, index: int, slot: int, wait_free: bool) -> None:
        with torch.cuda.stream(self._copy):
            if wait_free:
                self._copy.wait_event(self._free[slot])
            self._slots[slot][:self._host[index].numel()].copy_(self._host[index], non_blocking=True)
            self._ready[slot].record(self._copy)

    def _pack(self, part: str, block: int, device: torch.device) -> dict[str, torch.Tensor]:
        return self.layouts[part].views(self._buffer(part, block, device))

    def _buffer(self, part: str, block: int, device: torch.device, pin: bool = False):
        layout = self.layouts[part]
        buffer = torch.empty(layout.nbytes, dtype=torch.uint8, device=device, pin_memory=pin)
        for name, view in layout.views(buffer).items():
            view.copy_(self.read(part, block, name[len(WEIGHT_PREFIX):]).reshape(view.shape))
        return buffer


def store_factory(layout: ChainWeights, read: Callable[[str, int, str], torch.Tensor], dtype: torch.dtype,
                  device: torch.device, budget_bytes: int | None, what: str, log=None) -> Callable[[], WeightStore]:
    """A callable that packs a WeightStore (a chain calls it on its first run) and says what it holds."""

    def make():
        store = WeightStore(layout, read, dtype, device, budget_bytes)
        if log is not None:
            log(f"{what} weights: {_kinds(store.kinds, dtype)}; {len(store.resident)} of {layout.blocks} on the "
                f"device, {len(store.streamed)} streamed, {store.device_bytes / 2**30:.1f} GiB")
        return store

    return make


def packed_bytes(layout: ChainWeights, dtype: torch.dtype) -> int:
    """Bytes of a whole packed set (pre, post and every block): what a store holds when nothing streams."""
    size = {part: PackLayout.of(layout.params(part), dtype).nbytes for part in ("pre", "post", *layout.block_parts())}
    return size["pre"] + size["post"] + sum(size[layout.part_of(i)] for i in range(layout.blocks))


def _kinds(kinds: list[str], dtype: torch.dtype) -> str:
    """'44 fp8 + 4 bf16 blocks': how many blocks of each kind (ChainWeights.part_of), quantized ones first."""
    plain = {torch.bfloat16: "bf16", torch.float32: "fp32"}.get(dtype, str(dtype))
    names = [kind.removeprefix("block_") if kind != "block" else plain for kind in kinds]
    order = sorted(set(names), key=lambda name: (name == plain, name))
    return " + ".join(f"{names.count(name)} {name}" for name in order) + " blocks"


def resident_blocks(block_bytes: list[int], fixed_bytes: int, budget_bytes: int | None) -> int:
    """How many leading blocks stay on the device: all if they fit the budget, else what fits beside two
    slots as large as the largest streamed block."""
    if budget_bytes is None or fixed_bytes + sum(block_bytes) <= budget_bytes:
        return len(block_bytes)
    for count in range(len(block_bytes), -1, -1):
        slots = 2 * max(block_bytes[count:], default=0)
        if fixed_bytes + sum(block_bytes[:count]) + slots <= budget_bytes:
            return count
    return 0


def require_host_memory(needed: int, blocks: int, available: int | None = None) -> None:
    """Refuse, before pinning, host memory the machine does not have (pinned pages cannot be swapped)."""
    available = psutil.virtual_memory().available if available is None else available
    if needed + HOST_RESERVE > available:
        raise UserError(f"streaming {blocks} weight blocks needs {needed / 2**30:.1f} GiB of pinned host memory "
                        f"(+{HOST_RESERVE / 2**30:.0f} GiB kept free); {available / 2**30:.1f} GiB is available",
                        "pass a larger --resident-gib (more weights stay on the GPU) or close programs that use RAM")
