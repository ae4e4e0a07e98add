"""Helpers for the GPU benchmarks: device-event step timers, a phase timeline, the summary, the environment.

`Clock` times spans with CUDA events (perf_counter on a CPU); `Timeline` splits wall-clock time into
labelled segments, synchronising the device at each mark and recording each segment's peak memory;
`summarize` and `table` reduce the runs of each mode to medians with their spread (min-max) and a Markdown
table; `work_table` turns step times into TFLOP/s and a share of the chip's bf16 peak.
"""

import contextlib
import gc
import platform
import statistics
import subprocess
import sys
import time

import torch

GIB = 2**30


class Clock:
    """CUDA events on a GPU, perf_counter on a CPU; `pairs` collects (label, start, end) to resolve later."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.pairs: list[tuple[str, object, object]] = []

    def stamp(self):
        if not self.cuda:
            return time.perf_counter()
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def seconds(self) -> dict[str, list[float]]:
        if self.cuda:
            torch.cuda.synchronize()
        out: dict[str, list[float]] = {}
        for label, a, b in self.pairs:
            out.setdefault(label, []).append(a.elapsed_time(b) / 1e3 if self.cuda else b - a)
        return out


class Timeline:
    """Wall-clock segments between marks (device synchronised at each), with each segment's peak memory."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.label, self.segments = None, []

    def mark(self, label: str | None) -> None:
        if self.cuda:
            torch.cuda.synchronize()
        now = time.perf_counter()
        if self.label is not None:
            peak = torch.cuda.max_memory_allocated() / GIB if self.cuda else float("nan")
            self.segments.append((self.label, now - self.t0, peak, peak - self.base))
        self.label, self.t0 = label, now
        self.base = torch.cuda.memory_allocated() / GIB if self.cuda else float("nan")
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()

    def totals(self) -> dict[str, dict]:
        out = {}
        for label, seconds, peak, over in self.segments:
            t = out.setdefault(label, {"s": 0.0, "peak_gib": peak, "over_gib": over})
            t["s"] += seconds
            t["peak_gib"], t["over_gib"] = max(t["peak_gib"], peak), max(t["over_gib"], over)
        out["total"] = {"s": sum(s for _, s, _, _ in self.segments),
                        "peak_gib": max((p for _, _, p, _ in self.segments), default=float("nan")),
                        "over_gib": float("nan")}
        return out


def phase(timeline: Timeline, fn, labels, after: str = "other", keep=None):
    """Wrap `fn` so that each call is a timeline segment (labels: one per successive call)."""
    labels = iter(labels)

    def wrapper(*args, **kwargs):
        timeline.mark(next(labels))
        out = fn(*args, **kwargs)
        if keep is not None:
            out = keep(out)
        timeline.mark(after)
        return out

    return wrapper


def summarize(runs: dict[str, list[dict]]) -> dict:
    """Per mode: median over measured runs of each phase; median over all steps of each step kind."""
    out = {}
    for mode, results in runs.items():
        labels = list(dict.fromkeys(label for r in results for label in r["phases"]))
        phases = {label: {k: statistics.median(r["phases"][label][k] for r in results if label in r["phases"])
                          for k in ("s", "peak_gib", "over_gib")} for label in labels}
        for label in labels:
            seconds = [r["phases"][label]["s"] for r in results if label in r["phases"]]
            phases[label] |= {"min_s": min(seconds), "max_s": max(seconds), "n": len(seconds)}
        kinds = list(dict.fromkeys(kind for r in results for kind in r["steps"]))
        steps = {kind: _spread([s for r in results for s in r["steps"].get(kind, [])]) for kind in kinds}
        out[mode] = {"phases": phases, "steps": steps}
    return out


def _spread(values: list[float]) -> dict:
    return {"median_s": statistics.median(values), "min_s": min(values), "max_s": max(values), "all_s": values}


# Dense bf16 tensor-core peak of the GPUs the device tool lends (NVIDIA's data sheets, SXM parts, no sparsity)
PEAK_BF16 = {"H100": 989e12, "H200": 989e12}


def peak_bf16(device: torch.device) -> float | None:
    name = torch.cuda.get_device_name() if device.type == "cuda" else ""
    return next((peak for key, peak in PEAK_BF16.items() if key in name), None)


def work_table(summary: dict, flops: dict[str, int], peak: float | None) -> str:
    """Markdown: per mode and stage, the transformer step's median (min-max) ms, its TFLOP/s from the counted
    work (`flops`: per stage, one step's matmul + attention FLOPs) and the share of the chip's bf16 peak."""
    rows = ["| mode | stage | TFLOP per step | median (min-max) ms | TFLOP/s | share of bf16 peak |", "|---" * 6 + "|"]
    for mode, result in summary.items():
        for stage, work in flops.items():
            step = result["steps"].get(f"step {stage}") or result["steps"].get(f"transformer {stage}")
            if step is None:
                continue
            rate = work / step["median_s"]
            share = f"{rate / peak:.0%}" if peak else "-"
            rows.append(f"| {mode} | {stage} | {work / 1e12:.1f} | {step['median_s'] * 1e3:.1f} "
                        f"({step['min_s'] * 1e3:.1f}-{step['max_s'] * 1e3:.1f}) | {rate / 1e12:.0f} | {share} |")
    return "\n".join(rows)


def table(summary: dict) -> str:
    """Markdown: step medians (ms, with the number of steps), then each phase's median seconds and peak GiB."""
    modes = list(summary)
    rows = ["| | " + " | ".join(modes) + " |", "|---" * (len(modes) + 1) + "|"]
    for kind in dict.fromkeys(k for m in modes for k in summary[m]["steps"]):
        cells = [f"{s['median_s'] * 1e3:.1f} ms (n={len(s['all_s'])})" if (s := summary[m]["steps"].get(kind)) else "-"
                 for m in modes]
        rows.append(f"| {kind} median | " + " | ".join(cells) + " |")
    for label in dict.fromkeys(label for m in modes for label in summary[m]["phases"]):
        cells = [f"{p['s']:.3f} s ({p['min_s']:.3f}-{p['max_s']:.3f}), peak {p['peak_gib']:.2f} GiB"
                 if (p := summary[m]["phases"].get(label)) else "-" for m in modes]
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def environment(device: torch.device) -> dict:
    env = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
           "argv": " ".join(sys.argv)}
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name()
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            env["nvidia_smi"] = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                                                "--format=csv,noheader"], capture_output=True, text=True,
                                               check=True).stdout.strip()
    for name in ("ltx-core", "ltx-pipelines", "transformers"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version
            env[name] = version(name)
    return env


def free_cache(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
