"""When a stage's denoising steps run as a CUDA graph.

A capture records one step's launches (host time about that of one eager step, plus instantiation)
and saves, on every replay, what the host spends launching beyond what the GPU spends computing. On
the H100 (docs/BENCHMARKS.md, issue #15) that saving was 45% of a stage-1 step at 768x512x121 and
under 2% of a stage-2 step, where the GPU is the bottleneck: a capture repays itself only over
several remaining steps. The rule is that data: capture when at least MIN_REMAINING_STEPS steps are
left after the first (eager) one. Each capture has its graph's own memory pool, returned when the
stage is done (Step.drop_graph): the distilled and two-stage pipelines capture stage 1 only, so a
pool shared between stages would save nothing. Imports torch and runtime only.
"""

import time
from typing import Callable

import torch

from ltx_trt.runtime.step import Step

MIN_REMAINING_STEPS = 3  # distilled: stage 1 (7 left) is captured, stage 2 (2 left) runs eagerly


class Captures:
    """Captures the steps of one run that repay it; logs each capture and keeps its seconds."""

    def __init__(self, device: torch.device, log: Callable[[str], None] = print,
                 min_remaining: int = MIN_REMAINING_STEPS) -> None:
        self.device, self.log, self.min_remaining = torch.device(device), log, min_remaining
        self.seconds: dict[str, float] = {}  # graph key -> capture seconds

    def __call__(self, step: Step, remaining: int) -> None:
        if self.device.type != "cuda" or remaining < self.min_remaining or not step.capturable:
            return
        torch.cuda.synchronize(self.device)
        started = time.perf_counter()
        step.capture()
        torch.cuda.synchronize(self.device)
        self.seconds[step.graph_key] = seconds = time.perf_counter() - started
        self.log(f"  captured the step in a CUDA graph for the {remaining} steps left ({seconds:.2f} s)")
