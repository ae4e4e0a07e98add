"""The transformer and the text encoder as chains of engines: pre, one block graph once per block, post.

`BlockChain` (transformer) and `TextChain` (Gemma-3) are executors: asked to run their logical graph
(core/plan.py), they run its three physical parts through the inner executor (TensorRT engines,
ONNX Runtime sessions or torch modules), binding block i's weights from a WeightStore (and, for a guided
graph, row i of its `perturbation_masks` as the block's `perturbation_mask`) and swapping two hidden-state
buffers between blocks. Every intermediate buffer is allocated once, when the chain
is made; the WeightStore is made by `make_store` on the chain's first run and closed when its graphs
are released, so that the text encoder's and the transformer's weights are never on the device
together. Other graphs pass straight through to the inner executor. Imports torch and ltx_trt.core / runtime only.
"""

from typing import Callable

import torch

from ltx_trt.core.components import MODALITIES
from ltx_trt.core.plan import Graph
from ltx_trt.core.shapes import WEIGHT_PREFIX
from ltx_trt.core.shapes import ChainWeights
from ltx_trt.runtime.executors import Executor, allocate
from ltx_trt.runtime.weight_store import WeightStore, store_factory


def chain_buffer_bytes(graph: Graph) -> int:
    """Bytes of the intermediate buffers a chain allocates for a logical graph (_Buffers, TextChain): the
    pre part's outputs plus a second copy of each hidden state, which the blocks swap between."""
    carried = graph.part("pre").outputs
    return sum(s.nbytes for s in carried) + sum(s.nbytes for s in carried if s.name.endswith("_hidden"))


class _Buffers:
    """The intermediate tensors of one logical graph: the pre part's outputs and a second hidden state."""

    def __init__(self, graph: Graph, device: torch.device) -> None:
        self.pre, self.post = graph.part("pre"), graph.part("post")
        self.blocks = _block_parts(graph)  # block i -> the part graph that runs it (plain or quantized)
        self.keys = [p.key for p in graph.parts]
        self.guided = any(s.name == "perturbation_masks" for s in graph.inputs)  # (blocks, 4, batch)
        self.carried = allocate(self.pre.outputs, device)  # hidden states, AdaLN tensors, embedded timesteps
        self.spare = {m: torch.zeros_like(self.carried[f"{m}_hidden"]) for m in MODALITIES}

    def tensors(self) -> list[torch.Tensor]:
        return [*self.carried.values(), *self.spare.values()]


class BlockChain:
    """Runs logical transformer graphs as pre -> blocks -> post; any other graph goes to `inner`."""

    def __init__(self, inner: Executor, graphs: list[Graph], make_store: Callable[[], WeightStore], blocks: int,
                 device: torch.device) -> None:
        self.inner, self.make_store, self.blocks = inner, make_store, blocks
        self.store: WeightStore | None = None
        self.buffers = {g.key: _Buffers(g, torch.device(device)) for g in graphs
                        if g.parts and g.component == "transformer"}

    def run(self, graph_key: str, inputs: dict[str, torch.Tensor], outputs: dict[str, torch.Tensor]) -> None:
        chain = self.buffers.get(graph_key)
        if chain is None:
            self.inner.run(graph_key, inputs, outputs)
            return
        carried = chain.carried
        self.store = self.store or self.make_store()
        self.store.begin()
        self.inner.run(chain.pre.key, _pick(chain.pre, inputs, self.store.parts["pre"]), carried)
        current = {m: carried[f"{m}_hidden"] for m in MODALITIES}
        other = dict(chain.spare)
        for i, block in enumerate(chain.blocks):
            available = {**inputs, **carried, **{f"{m}_hidden": current[m] for m in MODALITIES}}
            if chain.guided:  # block i's masks (4, batch): a view into the caller's buffer, same address every step
                available["perturbation_mask"] = inputs["perturbation_masks"][i]
            feeds = _pick(block, available, self.store.block(i))
            self.inner.run(block.key, feeds, {f"{m}_hidden_out": other[m] for m in MODALITIES})
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
            keys += chain.keys if chain else [key]
        if not self.buffers and self.store is not None:
            self.store.close()
        self.inner.release(keys)

    def buffer_tensors(self) -> list[torch.Tensor]:
        """Every buffer the chain owns (for tests that check nothing else is allocated)."""
        return [t for b in self.buffers.values() for t in b.tensors()]


class TextChain:
    """Runs the logical text encoder graph as pre -> Gemma layers -> final norm, each layer with its own
    weights and, for sliding-window layers, the sliding mask and the local RoPE table; writes every
    hidden state into the stacked `hidden_states` output. Any other graph goes to `inner`."""

    def __init__(self, inner: Executor, graph: Graph, make_store: Callable[[], WeightStore], layers: int,
                 sliding: tuple[int, ...], device: torch.device) -> None:
        self.inner, self.graph, self.make_store, self.layers, self.sliding = inner, graph, make_store, layers, sliding
        self.store: WeightStore | None = None
        self.pre, self.post, self.blocks = graph.part("pre"), graph.part("post"), _block_parts(graph)
        self.carried = allocate(self.pre.outputs, device)
        self.spare = torch.zeros_like(self.carried["text_hidden"])

    def run(self, graph_key: str, inputs: dict[str, torch.Tensor], outputs: dict[str, torch.Tensor]) -> None:
        if graph_key != self.graph.key or self.carried is None:
            self.inner.run(graph_key, inputs, outputs)
            return
        self.store = self.store or self.make_store()
        self.store.begin()
        carried, stacked = self.carried, outputs["hidden_states"]
        self.inner.run(self.pre.key, _pick(self.pre, inputs, self.store.parts["pre"]), carried)
        current, other = carried["text_hidden"], self.spare
        for i, block in enumerate(self.blocks):
            stacked[..., i].copy_(current)  # the input of layer i, as transformers collects hidden states
            kind, rope = ("sliding", "local") if i in self.sliding else ("full", "global")
            feeds = {"text_hidden": current, "layer_attention_mask": carried[f"{kind}_attention_mask"],
                     "layer_rope_cos": carried[f"{rope}_rope_cos"], "layer_rope_sin": carried[f"{rope}_rope_sin"]}
            self.inner.run(block.key, _pick(block, feeds, self.store.block(i)), {"text_hidden_out": other})
            self.store.done(i)
            current, other = other, current
        post = _pick(self.post, {"text_hidden": current}, self.store.parts["post"])
        self.inner.run(self.post.key, post, {"text_hidden_out": other})
        stacked[..., self.layers].copy_(other)

    def release(self, graph_keys: list[str]) -> None:
        """Done with these graphs: the text encoder frees its buffers, weights and parts' engines."""
        keys = [k for k in graph_keys if k != self.graph.key]
        if len(keys) < len(graph_keys) and self.carried is not None:
            keys += [p.key for p in self.graph.parts]
            self.carried, self.spare = None, None
            if self.store is not None:
                self.store.close()
        self.inner.release(keys)


def block_chain(inner, graphs: list[Graph], layout: ChainWeights, read, dtype: torch.dtype,
                device: torch.device, budget_bytes: int | None = None, log=None):
    """A BlockChain over `inner` for the logical transformer graphs among `graphs`, weights from `read`
    (packed on the chain's first run; `log` gets one line about what is resident then)."""
    return BlockChain(inner, graphs, store_factory(layout, read, dtype, device, budget_bytes, "transformer", log),
                      layout.blocks, device)


def text_chain(inner, graph: Graph, layout: ChainWeights, sliding: tuple[int, ...], read, dtype: torch.dtype,
               device: torch.device, budget_bytes: int | None = None, log=None):
    """A TextChain over `inner` for the logical text encoder graph, weights from `read` (packed on first run)."""
    make = store_factory(layout, read, dtype, device, budget_bytes, "text encoder", log)
    return TextChain(inner, graph, make, layout.blocks, sliding, device)


def _block_parts(graph: Graph) -> list[Graph]:
    """Block i -> the part graph that runs it: "block", or "block_<format>" for quantized blocks."""
    return [graph.part(graph.weights.part_of(i)) for i in range(graph.weights.blocks)]


def _pick(part: Graph, available: dict[str, torch.Tensor], weights: dict[str, torch.Tensor]) -> dict:
    """A part's inputs in spec order, from the activations at hand and its weights."""
    return {s.name: (weights if s.name.startswith(WEIGHT_PREFIX) else available)[s.name] for s in part.inputs}
