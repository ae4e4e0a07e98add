"""The block chain runs pre, every block with its own weights in order, then post, over buffers allocated
once; the weight store keeps what the budget allows on the device and (GPU tier) streams the rest with
results equal to all-resident, eagerly and replayed from a CUDA graph."""

import dataclasses

import pytest
import torch

from ltx_trt.core import shapes
from ltx_trt.core.plan import transformer_graph
from ltx_trt.model.ltx23_config import tiny_config
from ltx_trt.model.transformer_parts import layout_from_config
from ltx_trt.runtime.chain import BlockChain
from ltx_trt.runtime.executors import allocate
from ltx_trt.runtime.step import Step
from ltx_trt.runtime.weight_store import WeightStore, resident_blocks

BLOCKS = 5
LAYOUT = dataclasses.replace(layout_from_config(tiny_config()), blocks=BLOCKS)
DIMS = shapes.ModelDims(2, 32, 2, 16, 32, 64, 2, LAYOUT)
GRID = shapes.latent_grid(128, 64, 17, 24)
SIGMAS = (1.0, 0.9, 0.5, 0.0)
MARKER = "weight.attn1.to_q.bias"  # every weight of block i holds i + 1 (see _read)
NO_GPU = "needs an NVIDIA GPU with CUDA (torch.cuda.is_available() is False on this machine)"


def _graph():
    return transformer_graph(DIMS, GRID, "tiny.stage1", {"transformer": "fp32"})


def _read(part, block, name):
    shape = dict(getattr(LAYOUT, part))[name]
    return torch.full(shape, float(block + 1) if part == "block" else 0.5)


class PartsExecutor:
    """In place, no temporaries: pre zeroes the hidden states, block i adds its marker weight (i + 1),
    post writes the hidden state's first channel into the velocity. Records (part, marker pointer)."""

    def __init__(self):
        self.calls, self.released, self.masks = [], [], []

    def release(self, keys):
        self.released += keys

    def run(self, key, inputs, outputs):
        part = key.rsplit(".", 1)[-1]
        self.calls.append((part, inputs[MARKER].data_ptr() if part == "block" else None))
        if part == "block":
            self.masks.append(inputs.get("perturbation_mask"))
        if part not in ("pre", "block", "post"):
            return
        for m in ("video", "audio"):
            if part == "pre":
                outputs[f"{m}_hidden"].zero_()
            elif part == "block":
                torch.add(inputs[f"{m}_hidden"], inputs[MARKER][0], out=outputs[f"{m}_hidden_out"])
            else:
                outputs[f"{m}_velocity"].copy_(inputs[f"{m}_hidden"][..., :1])


def _chain(inner, device="cpu", budget=None):
    make_store = lambda: WeightStore(LAYOUT, _read, torch.float32, torch.device(device), budget)  # noqa: E731
    return BlockChain(inner, [_graph()], make_store, BLOCKS, torch.device(device))


def _run(chain):
    graph = _graph()
    outputs = allocate(graph.outputs, "cpu")
    chain.run(graph.key, allocate(graph.inputs, "cpu"), outputs)
    return outputs


def test_blocks_run_in_order_each_with_its_own_weights():
    inner = PartsExecutor()
    chain = _chain(inner)
    assert chain.store is None  # packed on the first run
    outputs = _run(chain)
    assert [part for part, _ in inner.calls] == ["pre"] + ["block"] * BLOCKS + ["post"]
    markers = [ptr for part, ptr in inner.calls if part == "block"]
    assert markers == [chain.store.block(i)[MARKER].data_ptr() for i in range(BLOCKS)]
    assert len(set(markers)) == BLOCKS
    assert torch.all(outputs["video_velocity"] == sum(range(1, BLOCKS + 1)))  # 1 + 2 + ... + BLOCKS


def test_guided_blocks_get_their_row_of_the_masks_as_a_view_at_a_fixed_address(new_storage_watch):
    graph = transformer_graph(DIMS, GRID, "tiny.guided3", {"transformer": "fp32"}, guided=3)
    inner = PartsExecutor()
    chain = BlockChain(inner, [graph], lambda: WeightStore(LAYOUT, _read, torch.float32, torch.device("cpu")),
                       BLOCKS, torch.device("cpu"))
    inputs, outputs = allocate(graph.inputs, "cpu"), allocate(graph.outputs, "cpu")
    masks = inputs["perturbation_masks"]  # (blocks, 4, 3)
    masks.copy_(torch.arange(masks.numel()).reshape(masks.shape) % 2)
    chain.run(graph.key, inputs, outputs)
    known = [*inputs.values(), *outputs.values(), *chain.buffer_tensors()]
    known += [t for i in range(BLOCKS) for t in chain.store.block(i).values()]
    known += [t for part in chain.store.parts.values() for t in part.values()]
    with new_storage_watch(known) as watch:
        chain.run(graph.key, inputs, outputs)
    assert watch.new == []
    first, second = inner.masks[:BLOCKS], inner.masks[BLOCKS:]
    for i, (a, b) in enumerate(zip(first, second)):
        assert a.shape == (4, 3) and torch.equal(a, masks[i]) and a.data_ptr() == b.data_ptr() == masks[i].data_ptr()
    plain = PartsExecutor()
    _run(_chain(plain))
    assert plain.masks == [None] * BLOCKS  # the batch-1 graph's blocks take no mask


def test_other_graphs_pass_through_to_the_inner_executor():
    inner = PartsExecutor()
    _chain(inner).run("upsampler.tiny", {MARKER: torch.zeros(1)}, {})
    assert inner.calls == [("tiny", None)]


def test_releasing_the_transformer_frees_its_weights_buffers_and_parts():
    inner = PartsExecutor()
    chain, graph = _chain(inner), _graph()
    _run(chain)
    assert chain.store.device_bytes > 0 and chain.buffer_tensors()
    chain.release([graph.key, "upsampler.tiny"])
    assert inner.released == [p.key for p in graph.parts] + ["upsampler.tiny"]
    assert chain.store.device_bytes == 0 and chain.store.resident == [] and chain.buffer_tensors() == []


def test_steps_through_the_chain_allocate_nothing(new_storage_watch):
    chain = _chain(PartsExecutor())
    step = Step(_graph(), chain, SIGMAS, torch.device("cpu"))
    step()  # a first step outside the watch
    known = step.buffers() + chain.buffer_tensors() + [t for i in range(BLOCKS) for t in chain.store.block(i).values()]
    known += [t for part in chain.store.parts.values() for t in part.values()]
    with new_storage_watch(known) as watch:
        step()
        step()
    assert watch.new == []


def test_resident_blocks_follow_the_budget():
    block, fixed = 100, 30
    assert resident_blocks([block] * 48, fixed, None) == 48
    assert resident_blocks([block] * 48, fixed, fixed + 48 * block) == 48  # everything fits: no slots
    assert resident_blocks([block] * 48, fixed, fixed + 48 * block - 1) == 45  # two slots come out of the budget
    assert resident_blocks([block] * 48, fixed, fixed + 2 * block + 19) == 0
    assert resident_blocks([block] * 48, fixed, 0) == 0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_GPU)
@pytest.mark.parametrize("capture", [False, True])
def test_streamed_blocks_give_the_all_resident_result(capture):
    results = []
    for budget in (None, 1):  # everything resident; nothing resident (every block streamed through 2 slots)
        chain = _chain(PartsExecutor(), "cuda", budget)
        step = Step(_graph(), chain, SIGMAS, torch.device("cuda"))
        step.latent("video").fill_(1.0)
        step()  # eager: packs the store (the capture must not)
        if capture:
            step.capture()
        for _ in range(step.num_steps - 1):
            step()
        assert len(chain.store.streamed) == (0 if budget is None else BLOCKS)
        results.append(step.outputs["video_velocity"].clone())
    assert torch.equal(results[0], results[1]) and torch.all(results[0] == sum(range(1, BLOCKS + 1)))


# --- the text encoder's chain ---------------------------------------------------------------------------

TEXT_LAYOUT = shapes.ChainWeights(4, (("embed_tokens.weight", (8, 4)),), (("self_attn.q_norm.weight", (2,)),),
                                  (("norm.weight", (4,)),))
TEXT_DIMS = shapes.ModelDims(2, 32, 2, 16, 32, gemma_hidden=4, gemma_layers=4, text_encoder=TEXT_LAYOUT,
                             sliding_layers=(0, 2))


class TextPartsExecutor:
    """pre: hidden 0, masks 10 (full) / 20 (sliding); layer i adds its mask's value + its weight (i + 1);
    post adds 0.5. Records the layer kinds it was given."""

    def __init__(self):
        self.kinds, self.released = [], []

    def release(self, keys):
        self.released += keys

    def run(self, key, inputs, outputs):
        part = key.rsplit(".", 1)[-1]
        if part == "pre":
            outputs["text_hidden"].zero_()
            outputs["full_attention_mask"].fill_(10.0)
            outputs["sliding_attention_mask"].fill_(20.0)
        elif part == "block":
            mask = inputs["layer_attention_mask"].flatten()[0]
            self.kinds.append("sliding" if mask == 20.0 else "full")
            torch.add(inputs["text_hidden"], mask + inputs["weight.self_attn.q_norm.weight"][0],
                      out=outputs["text_hidden_out"])
        else:
            torch.add(inputs["text_hidden"], 0.5, out=outputs["text_hidden_out"])


def test_text_chain_binds_each_layers_mask_and_stacks_every_hidden_state():
    from ltx_trt.runtime.chain import TextChain
    from ltx_trt.core.plan import text_encoder_graph

    graph = text_encoder_graph(TEXT_DIMS, {"text_encoder": "fp32"})
    read = lambda part, i, name: torch.full(dict(getattr(TEXT_LAYOUT, part))[name], float(i + 1))  # noqa: E731
    inner = TextPartsExecutor()
    chain = TextChain(inner, graph, lambda: WeightStore(TEXT_LAYOUT, read, torch.float32, torch.device("cpu")),
                      4, (0, 2), torch.device("cpu"))
    outputs = allocate(graph.outputs, "cpu")
    chain.run(graph.key, allocate(graph.inputs, "cpu"), outputs)
    assert inner.kinds == ["sliding", "full", "sliding", "full"]
    # slot i holds layer i's input: 0, then + 20 + 1, + 10 + 2, + 20 + 3, + 10 + 4; the last is normed (+0.5)
    expected = [0.0, 21.0, 33.0, 56.0, 70.5]
    assert [outputs["hidden_states"][0, 0, 0, i].item() for i in range(5)] == expected
    chain.release([graph.key])
    assert inner.released == [p.key for p in graph.parts] and chain.store.device_bytes == 0


def test_weight_budget_leaves_room_for_the_buffers_and_the_executors_activations():
    from ltx_trt.core.profiles import Memory, load_profile
    from ltx_trt.commands.memory import ENGINE_SCRATCH_GIB, buffer_bytes, weight_budget

    profile, graphs, gib = load_profile("rtx4090"), [_graph()], 2**30
    resident = int(profile.memory.resident_gib * gib)
    assert buffer_bytes(graphs) > sum(s.nbytes for s in (*graphs[0].inputs, *graphs[0].outputs))  # + the chain's
    assert weight_budget(profile, graphs) == resident - int(ENGINE_SCRATCH_GIB * gib) - buffer_bytes(graphs)
    assert weight_budget(profile, graphs, 3 * gib) == resident - 3 * gib - buffer_bytes(graphs)  # TensorRT's report
    assert weight_budget(dataclasses.replace(profile, memory=Memory(False, 20.0)), graphs) is None


def test_streaming_more_than_the_free_ram_is_refused_before_pinning():
    from ltx_trt.core.errors import UserError
    from ltx_trt.runtime.weight_store import HOST_RESERVE, require_host_memory

    gib = 2**30
    require_host_memory(20 * gib, 26, available=20 * gib + HOST_RESERVE)  # fits exactly
    with pytest.raises(UserError, match=r"26 weight blocks needs 20.0 GiB .* 21.0 GiB is available") as err:
        require_host_memory(20 * gib, 26, available=21 * gib)
    assert "--resident-gib" in err.value.hint
