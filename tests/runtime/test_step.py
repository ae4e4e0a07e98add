"""The step runs over buffers allocated once: no tensor storage is created across steps, every buffer
keeps its address, and (on a GPU) CUDA-graph replay equals the eager step bit for bit."""

import pytest
import torch

from ltx_trt.core import shapes
from ltx_trt.core.plan import Graph
from ltx_trt.runtime.capture import Captures, repays
from ltx_trt.runtime.loop import denoise
from ltx_trt.runtime.step import Step

TINY = shapes.ModelDims(video_heads=2, video_head_dim=32, audio_heads=2, audio_head_dim=16, audio_cross_dim=32,
                        gemma_hidden=64, gemma_layers=2)
SIGMAS = (1.0, 0.99375, 0.9875, 0.98125, 0.975, 0.909375, 0.725, 0.421875, 0.0)
NO_GPU = "needs an NVIDIA GPU with CUDA (torch.cuda.is_available() is False on this machine)"


def tiny_graph(dtype: str = "bfloat16") -> Graph:
    grid = shapes.latent_grid(128, 64, 17, 24)
    inputs, outputs = shapes.transformer_specs(TINY, grid, dtype)
    return Graph("transformer", "tiny.stage1", tuple(inputs), tuple(outputs), "bf16", grid)


class InPlaceExecutor:
    """Stands in for an engine: velocity = tokens x timesteps, written into the caller's buffers."""

    def run(self, graph_key, inputs, outputs):
        for m in ("video", "audio"):
            torch.mul(inputs[f"{m}_tokens"], inputs[f"{m}_timesteps"].unsqueeze(-1), out=outputs[f"{m}_velocity"])


class AllocatingExecutor:
    """The same numbers through a temporary: what the allocation check must catch."""

    def run(self, graph_key, inputs, outputs):
        for m in ("video", "audio"):
            outputs[f"{m}_velocity"].copy_(inputs[f"{m}_tokens"] * inputs[f"{m}_timesteps"].unsqueeze(-1))


def _count_new_storages(executor, NewStorageWatch) -> tuple[list[str], bool]:
    step = Step(tiny_graph(), executor, SIGMAS, torch.device("cpu"))
    step.latent("video").normal_()
    step.latent("audio").normal_()
    addresses = [b.data_ptr() for b in step.buffers()]
    step()  # a first step outside the watch: anything lazily set up is allowed once
    with NewStorageWatch(step.buffers()) as watch:
        for _ in range(step.num_steps - 1):
            step()
    return watch.new, addresses == [b.data_ptr() for b in step.buffers()]


def test_steps_allocate_no_tensor_and_keep_every_buffer_address(new_storage_watch):
    new, same_addresses = _count_new_storages(InPlaceExecutor(), new_storage_watch)
    assert new == [] and same_addresses


def test_the_allocation_check_catches_a_temporary(new_storage_watch):
    new, _ = _count_new_storages(AllocatingExecutor(), new_storage_watch)
    assert new == ["aten.mul.Tensor"] * 2 * (len(SIGMAS) - 2)


def test_step_index_and_sigma_live_on_the_device_and_advance():
    step = Step(tiny_graph(), InPlaceExecutor(), SIGMAS, torch.device("cpu"))
    seen = []
    for _ in range(step.num_steps):
        step()
        seen.append((step.index.item(), step.inputs["video_sigma"].item(), step.inputs["audio_timesteps"][0, 0].item()))
    assert [s[0] for s in seen] == list(range(1, 9))
    assert [s[1] for s in seen] == [s[2] for s in seen] == torch.tensor(SIGMAS[:-1]).tolist()


def _run_stage(step: Step, capture=None) -> dict:
    generator = torch.Generator(device=step.device).manual_seed(10)
    return {m: t.clone() for m, t in denoise(step, generator, {"video": None, "audio": None}, None, capture).items()}


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_GPU)
def test_cuda_graph_replay_equals_the_eager_step_bit_for_bit():
    cuda = torch.device("cuda")
    eager = _run_stage(Step(tiny_graph(), InPlaceExecutor(), SIGMAS, cuda))
    captured = Step(tiny_graph(), InPlaceExecutor(), SIGMAS, cuda)
    replayed = _run_stage(captured, Captures(cuda, lambda line: None))  # step 1 eager, 7 replays
    assert captured.graph is not None
    short = Step(tiny_graph(), InPlaceExecutor(), SIGMAS[-4:], cuda)  # 3 steps: 2 left after the first
    _run_stage(short, Captures(cuda, lambda line: None))
    assert short.graph is None
    declined = Step(tiny_graph(), InPlaceExecutor(), SIGMAS, cuda)
    _run_stage(declined, Captures(cuda, lambda line: None, decide=lambda tokens, remaining: False))
    assert declined.graph is None
    assert all(torch.equal(eager[m], replayed[m]) for m in ("video", "audio"))
    assert not torch.equal(eager["video"], torch.zeros_like(eager["video"]))


def test_a_stage_is_captured_only_when_enough_steps_are_left_to_repay_it():
    """The capture hook runs once, after the first (eager) step, with the count of steps left; Captures
    declines on the CPU (no CUDA graphs there); the rule takes small calls with steps left to repay."""
    assert repays(1_536, 7)  # distilled stage 1 at 768x512x121: measured to pay
    assert not repays(6_144, 7) and not repays(4 * 1_536, 29)  # stage 2, the guided batch: GPU-bound
    assert not repays(1_536, 2)
    calls = []
    step = Step(tiny_graph(), InPlaceExecutor(), SIGMAS, torch.device("cpu"))
    _run_stage(step, lambda s, remaining: calls.append((s.index.item(), remaining)))
    assert calls == [(1, 7)]
    cpu = Captures(torch.device("cpu"), lambda line: None)
    cpu(step, 7)
    assert step.graph is None and cpu.seconds == {}
