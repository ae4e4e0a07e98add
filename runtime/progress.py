"""What a person sees during `ltx-trt run`: one line per stage, one per denoising step, a timing summary.

`Progress` owns the clock and the list of stage timings; the pipeline wraps each stage in
`progress.stage(name)`. On CUDA the stage waits for the device before it stops the clock (work is
queued asynchronously, so host time alone would credit it to the wrong stage). Imports torch only.
"""

import time
from contextlib import contextmanager
from typing import Callable

import torch


class Progress:
    """Stage and step lines for one run, and the seconds each stage took."""

    def __init__(self, log: Callable[[str], None] = print, device: torch.device | None = None) -> None:
        self.log = log
        self.device = torch.device(device) if device is not None else None
        self.seconds: dict[str, float] = {}
        self._step_started = 0.0
        self._nested: list[float] = []  # per open stage: seconds its inner stages took

    @contextmanager
    def stage(self, name: str, detail: str = ""):
        """Time the enclosed block as stage `name` (announced first, with `detail` if any). A stage inside
        another (weight packing inside the stage that first runs the chain) is counted once, as its own."""
        self.log(f"{name}{f' ({detail})' if detail else ''} ...")
        started = self._step_started = time.perf_counter()
        self._nested.append(0.0)
        try:
            yield
            self._sync()
        finally:
            inner = self._nested.pop()
        elapsed = time.perf_counter() - started
        if self._nested:  # the outer stage's steps go on: the next one is timed from here
            self._nested[-1] += elapsed
            self._step_started = time.perf_counter()
        self.seconds[name] = self.seconds.get(name, 0.0) + elapsed - inner

    def step(self, index: int, count: int) -> None:
        """A denoising step finished: `index` of `count` (1-based), with its own duration."""
        self._sync()
        now = time.perf_counter()
        self.log(f"  step {index}/{count}  {now - self._step_started:.2f} s")
        self._step_started = now

    def summary(self, output=None) -> str:
        total = sum(self.seconds.values())
        stages = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.seconds.items())
        return f"done in {total:.1f} s: {stages}" + (f" -> {output}" if output is not None else "")

    def _sync(self) -> None:
        if self.device is not None and self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
