"""When a stage's denoising steps run as a CUDA graph, and the memory pool every capture of a run shares.

A capture records one step's launches (host time about that of one eager step, plus instantiation)
and saves, on every replay, what the host spends launching beyond what the GPU spends computing. On
the H100 (docs/BENCHMARKS.md, issue #15) that saving was 45% of a stage-1 step at 768x512x121 and
under 2% of a stage-2 step, where the GPU is the bottleneck: a capture repays itself only over
several remaining steps. The rule is that data: capture when at least MIN_REMAINING_STEPS steps are
left after the first (eager) one. Imports torch and runtime only.
"""

import time
from typing import Callable

import torch

from ltx_trt.runtime.step import Step

MIN_REMAINING_STEPS = 3  # distilled: stage 1 (7 left) is captured, stage 2 (2 left) runs eagerly


class Captures:
    """Captures the steps of one run that repay it, into one shared memory pool; logs each capture."""

    def __init__(self, device: torch.device, log: Callable[[str], None] = print,
                 min_remaining: int = MIN_REMAINING_STEPS) -> None:
        self.device, self.log, self.min_remaining = torch.device(device), log, min_remaining
        self.pool = torch.cuda.graph_pool_handle() if self.device.type == "cuda" else None
        self.seconds: dict[str, float] = {}  # graph key -> capture seconds

    def __call__(self, step: Step, remaining: int) -> None:
        if self.pool is None or remaining < self.min_remaining:
            return
        torch.cuda.synchronize(self.device)
        started = time.perf_counter()
        step.capture(self.pool)
        torch.cuda.synchronize(self.device)
        self.seconds[step.graph_key] = seconds = time.perf_counter() - started
        self.log(f"  captured the step in a CUDA graph for the {remaining} steps left ({seconds:.2f} s)")
