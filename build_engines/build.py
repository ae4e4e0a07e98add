"""`build-engines`: one engine per graph of the ONNX manifest, rebuilt only when its inputs changed.

Reads `<artifacts>/<model>/<profile>/onnx/manifest.json`, writes `<...>/engines/` (engines, build
records and logs, then manifest.json last). Prints what it builds, why, and how long it took.
Never imports export, model or torch; TensorRT comes in through build_engines.backend.
"""

import time
from dataclasses import dataclass
from pathlib import Path

from ltx_trt.build_engines.backend import Backend, check_targets, load_backend
from ltx_trt.build_engines.engine_build import BuildSettings, build_engine, remove_leftovers
from ltx_trt.build_engines.onnx_source import OnnxExport, OnnxGraph, read_export, verify_files
from ltx_trt.build_engines.records import (build_inputs, engine_file, read_all_records, read_record, rebuild_reasons,
                                           remove_stale, settings_changes, write_manifest, write_record)
from ltx_trt.core.checkpoint import read_header
from ltx_trt.core.errors import UserError
from ltx_trt.core.profiles import Profile, profile_sha256
from ltx_trt.core.source import engines_dir, export_command, onnx_dir
from ltx_trt.core.trust import Verifier, load_onnx

def build_all(model_id: str, profile: Profile, artifacts: Path, force: bool = False,
              checkpoint: Path | None = None) -> Path:
    """Build every engine the export lists for (model_id, profile); return the engine manifest's path.

    `checkpoint`, when given, must be the file the ONNX was exported from (its header fingerprint).
    """
    start = time.monotonic()
    fix = export_command(profile.flags, model_id, checkpoint, artifacts)
    backend = load_backend(profile)
    settings = BuildSettings(check_targets(backend, profile), profile.memory.weight_streaming)
    profile_hash = profile_sha256(profile)
    export = read_export(onnx_dir(artifacts, model_id, profile.folder), model_id, profile, profile_hash, fix)
    if checkpoint is not None:
        _check_checkpoint(export, Path(checkpoint), fix)
    folder = engines_dir(artifacts, model_id, profile.folder)
    folder.mkdir(parents=True, exist_ok=True)
    for leftover in remove_leftovers(folder):
        print(f"removed {leftover.name} (left by an interrupted build)", flush=True)
    print(f"build-engines {model_id}/{profile.name}: {backend.name} {backend.version}, compute capability "
          f"{', '.join(settings.targets)}, {len(export.graphs)} engine(s) -> {folder}", flush=True)
    records, rebuilt = {}, 0
    checks = Verifiers(Verifier(export.folder), Verifier(folder))
    for index, graph in enumerate(export.graphs, 1):
        tag = f"[{index}/{len(export.graphs)}] {graph.key}:"
        records[graph.key], did_build = _build_one(backend, settings, export, graph, checks, force, fix, tag)
        rebuilt += did_build
        checks.save()
    if export.partial:
        records |= _kept_engines(backend, settings, profile, folder, records, fix)
    for key in remove_stale(folder, set(records)):
        print(f"removed engine {key} (no longer in the ONNX manifest)", flush=True)
    path = write_manifest(folder, model_id, profile, profile_hash, backend, settings, export, records)
    elapsed = time.monotonic() - start
    if rebuilt:
        print(f"built {rebuilt}, up to date {len(records) - rebuilt}; wrote {path} ({elapsed:.1f} s)", flush=True)
    else:
        print(f"nothing to rebuild: {len(records)} engine(s) up to date (--force rebuilds anyway); wrote {path}",
              flush=True)
    return path


@dataclass(frozen=True)
class Verifiers:
    """Content checks of the two folders a build reads: the export's files and the engines already built."""

    onnx: Verifier
    engines: Verifier

    def save(self) -> None:
        self.onnx.save()
        self.engines.save()


def _build_one(backend: Backend, settings: BuildSettings, export: OnnxExport, graph: OnnxGraph, checks: Verifiers,
               force: bool, fix: str, tag: str) -> tuple[dict, bool]:
    inputs = build_inputs(backend, settings, graph)
    folder = checks.engines.folder
    record = read_record(folder, graph.key)
    verify_files(export, graph, checks.onnx, fix)
    reasons = rebuild_reasons(record, inputs, checks.engines, graph.key) or (["--force"] if force else [])
    if not reasons:
        print(f"{tag} up to date", flush=True)
        return record, False
    print(f"{tag} building ({'; '.join(reasons)})", flush=True)
    load_onnx(export.folder / graph.onnx.name, "the ONNX manifest", fix, {f.name for f in graph.data_files})
    built = build_engine(backend, export.folder / graph.onnx.name, settings, folder / engine_file(graph.key))
    memory = built.memory
    products = ", ".join(f"{n} x{c}" for n, c in memory.get("matrix_products", {}).items())
    print(f"{tag} built in {built.build_seconds:.1f} s (engine {_size(built.size_bytes)}, weights "
          f"{_size(memory['weights_bytes'])}, activations {_size(memory['activation_bytes'])}"
          f"{'; ' + products if products else ''})", flush=True)
    return write_record(folder, graph, inputs, built, export), True


def _kept_engines(backend: Backend, settings: BuildSettings, profile: Profile, folder: Path, built: dict,
                  fix: str) -> dict:
    """A partial export (`export --component`) lists only what it re-made: the other engines stay, if current."""
    kept = {key: record for key, record in read_all_records(folder).items() if key not in built}
    for key, record in kept.items():
        changes = settings_changes(record, backend, settings, profile)
        if changes:
            raise UserError(f"engine {key} is out of date ({'; '.join(changes)}), and the partial export in "
                            f"{folder.parent / 'onnx'} has no ONNX for it", f"run: {fix} (all components)")
        print(f"kept {key} (not in this partial export, up to date)", flush=True)
    return kept


def _check_checkpoint(export: OnnxExport, checkpoint: Path, fix: str) -> None:
    if read_header(checkpoint).fingerprint != export.checkpoint.get("fingerprint"):
        raise UserError(f"the ONNX in {export.folder} was exported from another checkpoint than {checkpoint}",
                        f"run: {fix}")


def _size(count: int | None) -> str:
    if count is None:
        return "not reported"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} B"
