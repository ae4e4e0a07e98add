"""Building one engine in-process: parse the ONNX file, configure, build, write atomically.

Owns the builder's logger (a per-engine log file, errors echoed) and reads the builder's own memory
report out of its log. Backend differences go through build_engines.backend. Never imports export,
model or torch.
"""

import hashlib
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ltx_trt.build_engines.backend import (Backend, attach_timing_cache, configure, create_network, engine_memory,
                                           save_timing_cache)
from ltx_trt.core.errors import UserError
from ltx_trt.core.manifest import remove_dead_temps

# The builder's INFO lines, e.g. "Total Weights Memory: 16384 bytes" (TensorRT 10+ and TensorRT-RTX).
MEMORY_LINES = {
    "weights_bytes": "Total Weights Memory",
    "activation_bytes": "Total Activation Memory",
    "device_persistent_bytes": "Total Device Persistent Memory",
    "host_persistent_bytes": "Total Host Persistent Memory",
    "max_scratch_bytes": "Max Scratch Memory",
}
_MEMORY_RE = re.compile(r"(" + "|".join(MEMORY_LINES.values()) + r"): (\d+) bytes")
# The DETAILED layer dump ("Name: ..., LayerType: gemm, Inputs: [ { ..., Datatype: FP8, ...") says which
# precision each matrix product runs in: the evidence that a quantized graph stayed low precision.
_LAYER_RE = re.compile(r"LayerType: (\w+), Inputs: \[ \{ [^}]*?Datatype: (\w+)")
LOG_SUFFIX = ".build.log"  # the builder's INFO log, beside each engine
TMP_SUFFIX = ".tmp"  # engines are written as .<name>.<pid>.tmp, then renamed
HEARTBEAT_SECONDS = 10.0  # long builds print the builder's phases once they have run this long


@dataclass(frozen=True)
class BuildSettings:
    targets: tuple[str, ...]  # compute capabilities, "8.9"
    weight_streaming: bool


@dataclass(frozen=True)
class BuiltEngine:
    sha256: str
    size_bytes: int
    build_seconds: float
    memory: dict  # the builder's report; see memory_report


def build_engine(backend: Backend, onnx_path: Path, settings: BuildSettings, engine_path: Path) -> BuiltEngine:
    """Build `onnx_path` into `engine_path` (via a temporary name); the builder log goes beside it."""
    log_path = engine_path.with_suffix(LOG_SUFFIX)
    start = time.monotonic()
    with _logger_class(backend)(log_path) as logger:
        serialized = _build(backend, logger, onnx_path, settings, engine_path.parent, start)
        seconds = time.monotonic() - start
        engine_report = engine_memory(backend, logger, serialized)
    memory = memory_report(log_path.read_text(), engine_report)
    digest = _write_atomic(engine_path, serialized)
    return BuiltEngine(digest, serialized.nbytes, round(seconds, 3), memory)


def memory_report(log_text: str, engine_report: dict | None) -> dict:
    """Weight and activation memory as the builder logged them (None where a line was absent), and the
    engine's matrix products counted by layer kind and first input's datatype (`gemm FP8`: an FP8 GEMM;
    `runtime_fusion`: a kernel generated at run time whose precision cannot be read before it runs)."""
    found = {name: int(value) for name, value in _MEMORY_RE.findall(log_text)}
    report = {key: found.get(line) for key, line in MEMORY_LINES.items()}
    products = {}
    for kind, dtype in _LAYER_RE.findall(log_text):
        if kind in ("gemm", "runtime_fusion"):
            name = f"{kind} {dtype}" if kind == "gemm" else kind
            products[name] = products.get(name, 0) + 1
    report["matrix_products"] = dict(sorted(products.items()))
    report["source"] = "builder log"
    if engine_report is not None:
        report["engine"] = engine_report
        report["source"] = "builder log + deserialized engine"
    return report


def _build(backend: Backend, logger, onnx_path: Path, settings: BuildSettings, engines_dir: Path, start: float):
    trt = backend.trt
    builder = trt.Builder(logger)
    network = create_network(backend, builder)
    parser = trt.OnnxParser(network, logger)
    # parse_from_file (not parse(bytes)): external weights resolve relative to the .onnx file.
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise UserError(f"{backend.name} cannot parse {onnx_path}: {errors}",
                        f"the exporter made a graph this backend cannot read; full log: {logger.path}")
    config = builder.create_builder_config()
    config.profiling_verbosity = backend.trt.ProfilingVerbosity.DETAILED  # the layer dump memory_report reads
    configure(backend, config, settings.targets, settings.weight_streaming)
    timing_cache = attach_timing_cache(backend, config, engines_dir)
    monitor = _monitor_class(backend)(start)
    config.progress_monitor = monitor
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise UserError(f"{backend.name} failed to build {onnx_path.name}: {logger.last_error or 'no error logged'}",
                        f"full log: {logger.path}")
    save_timing_cache(backend, timing_cache, engines_dir)
    return serialized


def remove_leftovers(engines_dir: Path) -> list[Path]:
    """Delete temporary files (engines can be tens of GB) left by a killed build, not a running one's."""
    return remove_dead_temps(engines_dir)


def _write_atomic(path: Path, serialized) -> str:
    tmp = path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")
    view = memoryview(serialized)
    try:
        with tmp.open("wb") as f:
            f.write(view)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return hashlib.sha256(view).hexdigest()


def _logger_class(backend: Backend):
    trt = backend.trt

    class FileLogger(trt.ILogger):
        """INFO and above go to the engine's .build.log; errors are echoed to stderr as they come."""

        def __init__(self, path: Path) -> None:
            trt.ILogger.__init__(self)
            self.path = path
            self.last_error = ""
            self.file = None

        def __enter__(self):
            self.file = self.path.open("w")
            return self

        def __exit__(self, *exc) -> None:
            self.file.close()

        def log(self, severity, msg: str) -> None:
            if severity > trt.ILogger.Severity.INFO and not msg.startswith("Layers:\n"):
                return  # VERBOSE: only the layer dump, a message of one line per engine layer
            self.file.write(f"[{severity.name}] {msg}\n")
            if severity <= trt.ILogger.Severity.ERROR:
                self.last_error = msg
                print(f"    {backend.name}: {msg}", file=sys.stderr, flush=True)

    return FileLogger


def _monitor_class(backend: Backend):
    trt = backend.trt

    class Heartbeat(trt.IProgressMonitor):
        """Prints the builder's top-level phases, but only for builds that take a while."""

        def __init__(self, start: float) -> None:
            trt.IProgressMonitor.__init__(self)
            self.start = start
            self.depth = {}

        def phase_start(self, phase_name: str, parent_phase, num_steps: int) -> None:
            self.depth[phase_name] = self.depth.get(parent_phase, -1) + 1
            elapsed = time.monotonic() - self.start
            if self.depth[phase_name] <= 1 and elapsed >= HEARTBEAT_SECONDS:
                print(f"    {phase_name} ({elapsed:.0f} s)", flush=True)

        def phase_finish(self, phase_name: str) -> None:
            pass

        def step_complete(self, phase_name: str, step: int) -> bool:
            return True

    return Heartbeat
