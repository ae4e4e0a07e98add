"""The transformer as a chain of engines: pre, then one block graph once per block, then post.

`BlockChain` is an executor: asked to run a logical transformer graph (runtime/plan.py), it runs
its three physical parts through the inner executor (TensorRT engines, ONNX Runtime sessions or
torch modules), binding block i's weights from the WeightStore and swapping two hidden-state
buffers between blocks. Every intermediate buffer is allocated once, when the chain is made; other
graphs pass straight through to the inner executor. Imports torch and runtime only.
"""

import torch

from ltx_trt.runtime.executors import Executor, allocate
from ltx_trt.runtime.plan import Graph
from ltx_trt.runtime.shapes import MODALITIES, WEIGHT_PREFIX
from ltx_trt.runtime.weight_store import WeightStore


class _Buffers:
    """The intermediate tensors of one logical graph: the pre part's outputs and a second hidden state."""

    def __init__(self, graph: Graph, device: torch.device) -> None:
        self.pre, self.block, self.post = graph.parts
        self.carried = allocate(self.pre.outputs, device)  # hidden states, AdaLN tensors, embedded timesteps
        self.spare = {m: torch.zeros_like(self.carried[f"{m}_hidden"]) for m in MODALITIES}

    def tensors(self) -> list[torch.Tensor]:
        return [*self.carried.values(), *self.spare.values()]


class BlockChain:
    """Runs logical transformer graphs as pre -> blocks -> post; any other graph goes to `inner`."""

    def __init__(self, inner: Executor, graphs: list[Graph], store: WeightStore, blocks: int,
                 device: torch.device) -> None:
        self.inner, self.store, self.blocks = inner, store, blocks
        self.buffers = {g.key: _Buffers(g, torch.device(device)) for g in graphs if g.parts}

    def run(self, graph_key: str, inputs: dict[str, torch.Tensor], outputs: dict[str, torch.Tensor]) -> None:
        chain = self.buffers.get(graph_key)
        if chain is None:
            self.inner.run(graph_key, inputs, outputs)
            return
        carried = chain.carried
        self.store.begin()
        self.inner.run(chain.pre.key, _pick(chain.pre, inputs, self.store.parts["pre"]), carried)
        current = {m: carried[f"{m}_hidden"] for m in MODALITIES}
        other = dict(chain.spare)
        for i in range(self.blocks):
            feeds = _pick(chain.block, {**inputs, **carried, **{f"{m}_hidden": current[m] for m in MODALITIES}},
                          self.store.block(i))
            self.inner.run(chain.block.key, feeds, {f"{m}_hidden_out": other[m] for m in MODALITIES})
            self.store.done(i)
            current, other = other, current
        post_feeds = {**carried, **{f"{m}_hidden": current[m] for m in MODALITIES}}
        self.inner.run(chain.post.key, _pick(chain.post, post_feeds, self.store.parts["post"]), outputs)

    def release(self, graph_keys: list[str]) -> None:
        """Done with these graphs: a logical transformer graph frees its buffers and its parts' engines
        (and the weights, once no transformer graph is left); other keys go to the inner executor."""
        keys = []
        for key in graph_keys:
            chain = self.buffers.pop(key, None)
            keys += [chain.pre.key, chain.block.key, chain.post.key] if chain else [key]
        if not self.buffers:
            self.store.close()
        self.inner.release(keys)

    def buffer_tensors(self) -> list[torch.Tensor]:
        """Every buffer the chain owns (for tests that check nothing else is allocated)."""
        return [t for b in self.buffers.values() for t in b.tensors()]


def _pick(part: Graph, available: dict[str, torch.Tensor], weights: dict[str, torch.Tensor]) -> dict:
    """A part's inputs in spec order, from the activations at hand and its weights."""
    return {s.name: (weights if s.name.startswith(WEIGHT_PREFIX) else available)[s.name] for s in part.inputs}
