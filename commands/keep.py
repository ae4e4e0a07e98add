"""The transformer's packed weights a Session keeps from one clip to the next, and the rule that says when it
may (docs/DESIGN.md "Load once, generate many"): the distilled pipeline's one weight set, fully resident, with
room in the profile's plan for the text encoder's weights beside it and, on CUDA, free device memory for
what the clip still needs beside it (the text encoder's weights, the untiled video decoder's activations).
Anything else is packed per clip and released, as a single `run` does. Imports core, runtime, commands.memory.
"""

from typing import Callable

import torch

from ltx_trt.commands.memory import weight_room
from ltx_trt.core.dtypes import torch_dtype
from ltx_trt.core.plan import ACTIVATIONS
from ltx_trt.core.profiles import Bucket
from ltx_trt.runtime.chain import BlockChain, TextChain
from ltx_trt.runtime.weight_inputs import BoundWeights
from ltx_trt.runtime.weight_store import WeightStore, packed_bytes

GIB = 2**30
# The untiled video decoder's activation peak per output pixel (width x height x frames), measured with the
# torch executor: 55.5 GiB at 1920x1088x241 and 5.3 GiB at 768x512x121 are both ~119 bytes (TensorRT's
# engine takes less: 10.5 GB at 1280x704x241). It runs after stage 2, beside weights kept for the next clip.
DECODE_BYTES_PER_PIXEL = 120


def decode_bytes(bucket: Bucket) -> int:
    """Device bytes the video decoder's activations take for a clip of `bucket` (an upper estimate)."""
    return DECODE_BYTES_PER_PIXEL * bucket.width * bucket.height * bucket.frames


def keep_refusal(streamed: bool, weight_bytes: int, text_bytes: int, room_bytes: int | None,
                 free_bytes: int | None, needed_bytes: int) -> str | None:
    """Why a transformer weight store of `weight_bytes` may not stay for the next clip, or None when it may.

    streamed: some of its blocks stream from host memory; room_bytes: what the profile's plan lets weights
    take at once (weight_room; None: no plan, the CPU's RAM); free_bytes: device memory free now beside
    the store (None: not CUDA); needed_bytes: the most the clip still needs at once beside the store.
    """
    if streamed:
        return "they stream (the whole set does not fit resident_gib)"
    if room_bytes is not None and weight_bytes + text_bytes > room_bytes:
        return (f"they ({weight_bytes / GIB:.1f} GiB) and the text encoder's ({text_bytes / GIB:.1f} GiB) do not fit "
                f"resident_gib together ({room_bytes / GIB:.1f} GiB left to weights)")
    if free_bytes is not None and free_bytes < needed_bytes:
        return f"{free_bytes / GIB:.1f} GiB free on the device beside them, {needed_bytes / GIB:.1f} GiB needed"
    return None


def free_device_bytes(device: torch.device) -> int | None:
    """Device memory free now: the driver's free memory plus what torch's allocator holds unused (None: CPU)."""
    if device.type != "cuda":
        return None
    return torch.cuda.mem_get_info(device)[0] + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)


def keep_check(request, graphs, opened) -> Callable[[WeightStore], str | None]:
    """keep_refusal for one clip (request: RunRequest; graphs: its BucketGraphs; opened: commands.opening.Opened),
    over a store: the profile's numbers for this clip's graphs and the device's free memory when asked."""
    profile, device = request.profile, opened.device
    text = graphs.text_encoder
    text_bytes = packed_bytes(text.weights, torch_dtype(ACTIVATIONS[profile.precision["text_encoder"]]))
    room = weight_room(profile, graphs.all(), opened.activation_bytes) if device.type == "cuda" else None
    needed = max(text_bytes, decode_bytes(request.bucket))
    return lambda store: keep_refusal(bool(store.streamed), store.device_bytes, text_bytes, room,
                                      free_device_bytes(device), needed)


def weight_key(request, graphs) -> tuple | None:
    """What a clip's transformer weights are packed from (pipeline, LoRAs merged, the graphs' layout); None for
    the dev pipelines, whose two stages run on two sets (one at a time): they keep nothing."""
    if request.pipeline != "distilled":
        return None
    layout = next(g.weights for g in graphs.all() if g.component == "transformer" and g.weights is not None)
    return request.pipeline, tuple(request.loras), layout


class KeptWeights:
    """The transformer's weight store a Session keeps between clips (at most one set: the distilled pipeline's)."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self.log, self.key, self.store = log, None, None
        self.reused = 0  # clips that ran on a kept store (tests read it)

    def lend(self, executor, key: tuple | None, check: Callable[[WeightStore], str | None]) -> None:
        """Before a clip: drop a kept store this clip cannot use (another weight set, or no room now), and make
        the clip's block chain (under `executor`) run on the kept one, or offer its own for keeping at its end.
        Call after announce_packing, so that a reused store is not timed as "pack"."""
        if self.store is not None:
            why = "this clip runs on another weight set (pipeline, LoRAs)" if key != self.key else check(self.store)
            if why is not None:
                self.log(f"transformer weights of the previous clip released: {why}")
                self.drop()
        chains = _block_chains(executor)
        if key is None or len(chains) != 1:
            return
        chain = chains[0]
        pack = chain.make_store

        def store():
            if self.store is None:
                lent = pack()
            else:
                lent, self.reused = self.store, self.reused + 1
                self.log(f"transformer weights kept from the previous clip ({lent.device_bytes / GIB:.1f} GiB)")
            self.key, self.store = key, None  # the chain holds it now
            return _Lent(lent, lambda: self._returned(lent, key, check))

        chain.make_store = store

    def drop(self) -> None:
        """Free the kept store (the next clip packs its own)."""
        if self.store is not None:
            self.store.close()
        self.key, self.store = None, None

    def _returned(self, store: WeightStore, key: tuple, check: Callable[[WeightStore], str | None]) -> None:
        """The clip's chain is done with `store`: keep it for the next clip, or close it (as a `run` does)."""
        why = check(store)
        if why is None:
            self.key, self.store = key, store
            self.log(f"transformer weights stay for the next clip ({store.device_bytes / GIB:.1f} GiB)")
        else:
            store.close()
            self.log(f"transformer weights released after this clip: {why}")


class _Lent:
    """A store as one clip's chain holds it: the chain's close() (its graphs released; it may come again for
    other graphs) hands it back to the keeper once."""

    def __init__(self, store: WeightStore, returned: Callable[[], None]) -> None:
        self.store, self._returned = store, returned

    def __getattr__(self, name: str):
        return getattr(self.store, name)

    def close(self) -> None:
        if self._returned is not None:
            returned, self._returned = self._returned, None
            returned()


def _block_chains(chain) -> list[BlockChain]:
    """The transformer block chains under the bound weights and the text chain (commands.opening.chained's stack)."""
    found = []
    while isinstance(chain, (TextChain, BlockChain, BoundWeights)):
        if isinstance(chain, BlockChain):
            found.append(chain)
        chain = chain.inner
    return found
