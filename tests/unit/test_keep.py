"""The rule that lets a Session keep the transformer's packed weights for the next clip (commands/keep.py), on
made-up numbers, and the keeper over a real block chain of the tiny layout: a kept store is lent to the next
clip's chain instead of packing, and dropped for another weight set or when the rule refuses."""

import pytest

from ltx_trt.commands.keep import KeptWeights, decode_bytes, keep_refusal
from ltx_trt.core.profiles import load_profile
from tests.runtime.test_chain import PartsExecutor, _chain, _graph, _run

GIB = 2**30


@pytest.mark.parametrize("streamed, weights, text, room, free, needed, refused", [
    (False, 20, 6, 60, 50, 24, None),  # h100-like: both sets fit the plan, the decoder fits beside them
    (False, 20, 6, None, None, 24, None),  # the CPU: no plan, no device to measure
    (False, 20, 6, 25, 50, 24, "do not fit resident_gib together"),  # fits alone, not beside Gemma's
    (True, 8, 6, 60, 50, 24, "they stream"),  # part of the set streams from host memory
    (False, 20, 6, 60, 30, 56, "30.0 GiB free on the device beside them, 56.0 GiB needed"),  # decoder too big now
])
def test_weights_stay_only_resident_beside_the_text_encoder_and_the_decoder(streamed, weights, text, room, free,
                                                                           needed, refused):
    gib = lambda n: None if n is None else n * GIB  # noqa: E731
    why = keep_refusal(streamed, gib(weights), gib(text), gib(room), gib(free), gib(needed))
    assert why is None if refused is None else refused in why


def test_the_decoder_estimate_matches_the_measured_peaks():
    """~120 bytes a pixel: 55.5 GiB at 1920x1088x241 and 5.3 GiB at 768x512x121 (docs/DESIGN.md)."""
    h100 = load_profile("h100")
    largest, smallest = (next(b for b in h100.buckets if b.width == w) for w in (1920, 768))
    assert 55.5 <= decode_bytes(largest) / GIB < 57 and 5.3 <= decode_bytes(smallest) / GIB < 5.5


class Packs:
    """A block chain whose packing is counted (what runtime/chain.py calls on the chain's first run)."""

    def __init__(self):
        self.count = 0

    def chain(self):
        chain = _chain(PartsExecutor())
        pack = chain.make_store

        def counted():
            self.count += 1
            return pack()

        chain.make_store = counted
        return chain


def _clip(keeper: KeptWeights, packs: Packs, key, check=lambda store: None):
    """One clip's use of the transformer chain: lent, run, released (as runtime.pipeline.generate does)."""
    chain = packs.chain()
    keeper.lend(chain, key, check)
    _run(chain)
    chain.release([_graph().key])
    chain.release(["tiny.video_decoder"])  # a later release comes through the chain too: no second hand-back
    return chain


def test_a_kept_store_is_lent_to_the_next_clip_instead_of_packing():
    lines, packs = [], Packs()
    keeper = KeptWeights(lines.append)
    first = _clip(keeper, packs, "set a")
    second = _clip(keeper, packs, "set a")
    assert packs.count == 1 and keeper.reused == 1 and keeper.store is not None
    assert second.store.store is first.store.store and keeper.store.device_bytes > 0
    assert sum("kept from the previous clip" in line for line in lines) == 1
    keeper.drop()  # Session.close
    assert keeper.store is None and first.store.device_bytes == 0


def test_another_weight_set_or_a_refusal_packs_afresh_and_frees_the_kept_one():
    lines, packs = [], Packs()
    keeper = KeptWeights(lines.append)
    first = _clip(keeper, packs, "set a")
    _clip(keeper, packs, "set b")  # other LoRAs: the kept set is freed before this clip packs its own
    assert packs.count == 2 and first.store.device_bytes == 0 and keeper.key == "set b"
    assert any("another weight set" in line for line in lines)
    _clip(keeper, packs, "set b", check=lambda store: "no room")  # refused before the clip and at its end
    assert packs.count == 3 and keeper.store is None and keeper.reused == 0
    assert sum("no room" in line for line in lines) == 2
    _clip(keeper, packs, None)  # a dev pipeline: nothing offered, nothing kept
    assert packs.count == 4 and keeper.store is None
