"""How much of the GPU the chained models' weights may hold during a run (the rest streams).

The profile's `resident_gib` (or `run --resident-gib`) minus the run's I/O buffers, the chains' own
intermediate buffers (runtime.chain.chain_buffer_bytes) and the executor's activation memory: the
TensorRT executor's shared activation buffer, whose size it reports, else ENGINE_SCRATCH_GIB.
Pure arithmetic over core and runtime.chain.
"""

from ltx_trt.core.plan import Graph
from ltx_trt.core.profiles import Profile
from ltx_trt.runtime.chain import chain_buffer_bytes

# Device memory kept free of weights for the executors' own activations when no builder report sizes
# them (torch, onnxruntime): 0.3-3.2 GB per block engine at full size (docs/BENCHMARKS.md).
ENGINE_SCRATCH_GIB = 2.0


def weight_budget(profile: Profile, graphs: list[Graph], activation_bytes: int | None = None) -> int | None:
    """Device bytes the text encoder's or the transformer's weights may take; None (all resident) without
    weight streaming. `activation_bytes`: what the executor reserved for activations, if it knows."""
    if not profile.memory.weight_streaming:
        return None
    return weight_room(profile, graphs, activation_bytes)


def weight_room(profile: Profile, graphs: list[Graph], activation_bytes: int | None = None) -> int:
    """Device bytes the profile's plan leaves to weights at once, streaming or not: `resident_gib` less the
    executor's activation memory and the run's buffers."""
    scratch = activation_bytes if activation_bytes is not None else int(ENGINE_SCRATCH_GIB * 2**30)
    return int(profile.memory.resident_gib * 2**30) - scratch - buffer_bytes(graphs)


def buffer_bytes(graphs: list[Graph]) -> int:
    """Bytes of the buffers a run allocates: each graph's inputs and outputs, plus a chain's intermediates."""
    total = 0
    for g in graphs:
        total += sum(s.nbytes for s in (*g.activations, *g.outputs))
        if g.parts:
            total += chain_buffer_bytes(g)
    return total
