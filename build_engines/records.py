"""What was built from what: one build record per engine, and the engine manifest that gathers them.

Each engine gets `<key>.build.json` beside it, written right after the engine (so an interrupted run
keeps what it finished). It holds the build inputs that decide a rebuild: backend and version, target
compute capabilities, precision, the ONNX file hashes, build options. `manifest.json`, written last
and atomically, gathers the records for the runtime. Pure Python; never imports export, model, torch.
"""

import json
from pathlib import Path

from ltx_trt.build_engines.backend import Backend
from ltx_trt.build_engines.engine_build import LOG_SUFFIX, BuildSettings, BuiltEngine
from ltx_trt.build_engines.onnx_source import OnnxExport, OnnxGraph
from ltx_trt.core.manifest import MANIFEST_NAME, write_atomic
from ltx_trt.core.profiles import Profile
from ltx_trt.core.trust import Verifier

FORMAT = 1
RECORD_SUFFIX = ".build.json"
UNREADABLE = "unreadable"
REQUIRED = {"component", "sha256", "size_bytes", "build_inputs"}


def engine_file(key: str) -> str:
    return f"{key}.engine"


def build_inputs(backend: Backend, settings: BuildSettings, graph: OnnxGraph) -> dict:
    """Everything an engine depends on; a rebuild happens exactly when one of these differs."""
    return {
        **_settings_inputs(backend, settings, graph.precision),
        "onnx": {"file": graph.onnx.name, "sha256": graph.onnx.sha256},
        "data_files": [{"file": f.name, "sha256": f.sha256} for f in graph.data_files],
    }


def _settings_inputs(backend: Backend, settings: BuildSettings, precision: str) -> dict:
    return {
        "backend": backend.name,
        "backend_version": backend.version,
        "compute_capabilities": list(settings.targets),
        "precision": precision,
        "build_options": _build_options(settings),
    }


def _build_options(settings: BuildSettings) -> dict:
    return {"strongly_typed": True, "weight_streaming": settings.weight_streaming}


def settings_changes(record: dict, backend: Backend, settings: BuildSettings, profile: Profile) -> list[str]:
    """For an engine kept without its ONNX (partial export): what no longer matches backend and profile."""
    want = _settings_inputs(backend, settings, profile.precision[record["component"]])
    old = record["build_inputs"]
    return [_describe(name, old.get(name), want[name]) for name in want if old.get(name) != want[name]]


def read_record(engines_dir: Path, key: str) -> dict | str | None:
    """The record of an earlier build of `key`: a dict, None if never built, UNREADABLE if damaged."""
    path = engines_dir / f"{key}{RECORD_SUFFIX}"
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError):
        return UNREADABLE
    complete = isinstance(record, dict) and record.get("format") == FORMAT and REQUIRED <= record.keys()
    return record if complete else UNREADABLE


def read_all_records(engines_dir: Path) -> dict:
    """Every readable build record in the folder whose engine file is still there, by key."""
    records = {}
    for path in sorted(engines_dir.glob(f"*{RECORD_SUFFIX}")):
        key = path.name.removesuffix(RECORD_SUFFIX)
        record = read_record(engines_dir, key)
        if isinstance(record, dict) and (engines_dir / engine_file(key)).is_file():
            records[key] = record
    return records


def rebuild_reasons(record: dict | str | None, inputs: dict, engines: Verifier, key: str) -> list[str]:
    """Why `key` must be rebuilt (empty: up to date); `engines` checks the engine file by content."""
    if record is None:
        return ["not built yet"]
    if record == UNREADABLE:
        return ["its build record is unreadable"]
    if not (engines.folder / engine_file(key)).is_file():
        return ["engine file missing"]
    if not isinstance(record.get("sha256"), str) or not engines.matches(engine_file(key), record["sha256"]):
        return ["engine file changed since it was built"]
    old = record.get("build_inputs", {})
    return [_describe(name, old.get(name), inputs[name]) for name in inputs if old.get(name) != inputs[name]]


def write_record(engines_dir: Path, graph: OnnxGraph, inputs: dict, built: BuiltEngine, export: OnnxExport) -> dict:
    record = {
        "format": FORMAT,
        "component": graph.component,
        "variant": graph.variant,
        "file": engine_file(graph.key),
        "sha256": built.sha256,
        "size_bytes": built.size_bytes,
        "precision": graph.precision,
        "inputs": list(graph.inputs),
        "outputs": list(graph.outputs),
        "build_seconds": built.build_seconds,
        "memory": built.memory,
        "build_inputs": inputs,
        "onnx_manifest_sha256": export.manifest_sha256,
    }
    write_atomic(engines_dir / f"{graph.key}{RECORD_SUFFIX}", record)
    return record


def remove_stale(engines_dir: Path, keep: set[str]) -> list[str]:
    """Delete engines (and their records and logs) whose graph is no longer in the ONNX manifest."""
    removed = []
    for record in sorted(engines_dir.glob(f"*{RECORD_SUFFIX}")):
        key = record.name.removesuffix(RECORD_SUFFIX)
        if key not in keep:
            for path in (engines_dir / engine_file(key), engines_dir / f"{key}{LOG_SUFFIX}", record):
                path.unlink(missing_ok=True)
            removed.append(key)
    return removed


def write_manifest(engines_dir: Path, model_id: str, profile: Profile, profile_hash: str, backend: Backend,
                   settings: BuildSettings, export: OnnxExport, records: dict) -> Path:
    """The engine manifest, written last and atomically: its presence means every engine is built."""
    manifest = {
        "format": FORMAT,
        "stage": "build-engines",
        "model_id": model_id,
        "profile": profile.folder,
        "profile_sha256": profile_hash,
        "backend": {"name": backend.name, "version": backend.version},
        "compute_capabilities": list(settings.targets),
        "build_options": _build_options(settings),
        "onnx_manifest_sha256": export.manifest_sha256,
        "checkpoint": export.checkpoint,
        "timing_cache": backend.traits.timing_cache,
        # TensorRT-RTX compiles kernels at first run; the runtime keeps them here (relative to this folder).
        "runtime_cache": backend.traits.runtime_cache,
        "engines": {key: {k: v for k, v in record.items() if k != "format"}
                    for key, record in records.items()},
    }
    path = engines_dir / MANIFEST_NAME
    write_atomic(path, manifest)
    return path


def _describe(name: str, old, new) -> str:
    if name in ("onnx", "data_files"):
        return "ONNX file changed" if name == "onnx" else "external weights changed"
    if isinstance(old, dict) and isinstance(new, dict):
        return ", ".join(_describe(k, old.get(k), new.get(k)) for k in new if old.get(k) != new.get(k))
    return f"{name} {_short(old)} -> {_short(new)}"


def _short(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)
