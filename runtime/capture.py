"""When a stage's denoising steps run as a CUDA graph.

A capture records one step's launches (host time about that of one eager step, plus instantiation)
and saves, on every replay, what the host spends launching beyond what the GPU spends computing:
much when a call carries little work, nothing once the GPU is the bottleneck. Measured on the H100
(torch executor, docs/BENCHMARKS.md, issues #15 and #9) at 768x512x121: stage 1 of the distilled
pipeline (1,536 video tokens per call) steps in 126 ms replayed vs 328 ms eager; stage 2 (6,144
tokens) in 477 vs 479 ms; the guided stage 1 (4 rows x 1,536 tokens) took 0.65x the official time
with the capture vs 0.58x without. The rule is that data: capture when a call carries at most
MAX_TOKENS_PER_CALL video tokens (rows x tokens) and at least MIN_REMAINING_STEPS steps are left after
the first (eager) one. Each capture has its graph's own memory pool, returned when the stage is done
(Step.drop_graph). Imports torch and runtime only.
"""

import time
from typing import Callable

import torch

from ltx_trt.runtime.step import Step

MIN_REMAINING_STEPS = 3  # a capture costs about one step of host time: it must have steps to repay it
MAX_TOKENS_PER_CALL = 3_072  # between the H100's launch-bound 1,536 and GPU-bound 6,144


def repays(tokens_per_call: int, remaining: int) -> bool:
    """Whether capturing a step that carries `tokens_per_call` video tokens pays over `remaining` replays."""
    return tokens_per_call <= MAX_TOKENS_PER_CALL and remaining >= MIN_REMAINING_STEPS


class Captures:
    """Captures the steps of one run that repay it; logs each capture and keeps its seconds."""

    def __init__(self, device: torch.device, log: Callable[[str], None] = print,
                 decide: Callable[[int, int], bool] = repays) -> None:
        self.device, self.log, self.decide = torch.device(device), log, decide
        self.seconds: dict[str, float] = {}  # graph key -> capture seconds

    def __call__(self, step: Step, remaining: int) -> None:
        tokens = step.inputs["video_tokens"].shape[0] * step.inputs["video_tokens"].shape[1]
        if self.device.type != "cuda" or not step.capturable or not self.decide(tokens, remaining):
            return
        torch.cuda.synchronize(self.device)
        started = time.perf_counter()
        step.capture()
        torch.cuda.synchronize(self.device)
        self.seconds[step.graph_key] = seconds = time.perf_counter() - started
        self.log(f"  captured the step in a CUDA graph for the {remaining} steps left ({seconds:.2f} s)")
