"""What `run` reads from the artifacts folder, checked before any work: the export's ONNX or the engines.

Each check refuses missing or stale artifacts (another model, checkpoint, profile version, shapes, or
ONNX re-exported after the engines were built) with the command that makes them; run never exports or
builds. Every file it will open is confined to its folder and checked by content against the manifest
(core.trust: hashed once per change of the file, the weights file linked to the checkpoint by its
header fingerprint). Pure Python.
"""

from dataclasses import dataclass
from pathlib import Path

from ltx_trt.core import source as layout
from ltx_trt.core.errors import UserError
from ltx_trt.core.manifest import MANIFEST_NAME, check_origin, read_manifest
from ltx_trt.core.plan import Graph
from ltx_trt.core.profiles import Profile, profile_sha256
from ltx_trt.core.source import ModelSource, engines_dir, onnx_dir
from ltx_trt.core.trust import Verifier

@dataclass(frozen=True)
class Artifacts:
    """The folder one run reads (onnx/ or engines/) and its manifest."""

    folder: Path
    manifest: dict
    fix: str  # the command that (re)makes this folder


def export_command(profile: str, source: ModelSource, artifacts: Path) -> str:
    return layout.export_command(profile, source.model_id, source.checkpoint, artifacts, source.gemma)


def build_command(profile: str, source: ModelSource, artifacts: Path) -> str:
    return layout.build_command(profile, source.model_id, source.checkpoint, artifacts)


def check_onnx(artifacts: Path, source: ModelSource, profile: Profile, fingerprint: str,
               graphs: list[Graph], pack: Path | None = None) -> Artifacts:
    """The export folder for (model, profile), refused unless it holds `graphs` from this checkpoint; `pack`: an
    installed engine pack's folder instead (weightless, its architecture checked by commands/pack.py)."""
    fix = export_command(profile.flags, source, artifacts) if pack is None else f"the engine pack in {pack}"
    folder = onnx_dir(artifacts, source.model_id, profile.folder) if pack is None else pack / "onnx"
    manifest = _read(folder, fix, "no ONNX export")
    _check_origin(manifest, folder, source, profile, fix, pack is not None)
    _require(pack is not None or manifest.get("checkpoint", {}).get("fingerprint") == fingerprint,
             f"the ONNX in {folder} was exported from another checkpoint than {source.checkpoint}", fix)
    verifier, where = Verifier(folder), f"the ONNX manifest of {folder}"
    for graph in graphs:
        entry = manifest.get("graphs", {}).get(graph.key)
        _require(isinstance(entry, dict), f"the ONNX export in {folder} has no graph {graph.key}", fix)
        _require(entry.get("inputs") == [s.as_dict() for s in graph.inputs]
                 and entry.get("outputs") == [s.as_dict() for s in graph.outputs],
                 f"{graph.key} in {folder} has other tensor shapes than this model and profile need", fix)
        for item in [entry, *entry.get("data_files", [])]:
            _require(isinstance(item, dict), f"{where}: {graph.key} lists a file without its hash", fix)
            verifier.verify(item.get("file"), item.get("sha256"), where, fix)
    verifier.save()
    return Artifacts(folder, manifest, fix)


def check_engines(artifacts: Path, source: ModelSource, profile: Profile, fingerprint: str,
                  graphs: list[Graph], pack: Path | None = None) -> Artifacts:
    """The engine folder for (model, profile), refused unless every engine of `graphs` is built and current;
    `pack`: an installed engine pack's folder instead (see check_onnx)."""
    fix = build_command(profile.flags, source, artifacts) if pack is None else f"the engine pack in {pack}"
    folder = engines_dir(artifacts, source.model_id, profile.folder) if pack is None else pack / "engines"
    manifest = _read(folder, fix, "no engines")
    _check_origin(manifest, folder, source, profile, fix, pack is not None)
    _require(pack is not None or manifest.get("checkpoint", {}).get("fingerprint") == fingerprint,
             f"the engines in {folder} were built from another checkpoint than {source.checkpoint}",
             f"run: {export_command(profile.flags, source, artifacts)}, then {fix}")
    exported = _exported_hashes(onnx_dir(artifacts, source.model_id, profile.folder) if pack is None else pack / "onnx")
    verifier = Verifier(folder)
    for graph in graphs:
        entry = manifest.get("engines", {}).get(graph.key)
        _require(isinstance(entry, dict), f"the engines in {folder} lack {graph.key}", fix)
        verifier.verify(entry.get("file"), entry.get("sha256"), f"the engine manifest of {folder}", fix)
        built_from = entry.get("build_inputs", {}).get("onnx", {}).get("sha256")
        _require(graph.key not in exported or exported[graph.key] == built_from,
                 f"engine {graph.key} is stale: its ONNX was re-exported after the engine was built", fix)
    verifier.save()
    return Artifacts(folder, manifest, fix)


def check_compute_capability(manifest: dict, gpu_name: str, capability: str, profile: Profile) -> None:
    targets = manifest.get("compute_capabilities", [])
    if capability not in targets:
        raise UserError(f"this GPU ({gpu_name}, compute capability {capability}) cannot run the {profile.name} "
                        f"engines, built for compute capability {', '.join(targets)}",
                        "pass the --gpu profile of this GPU (see `ltx-trt doctor`), export and build-engines for it; "
                        "or --executor onnxruntime")


def _read(folder: Path, fix: str, what: str) -> dict:
    path = folder / MANIFEST_NAME
    _require(path.is_file(), f"{what} in {folder} (no {MANIFEST_NAME}: never made, or interrupted)", fix)
    return read_manifest(path, fix)


def _check_origin(manifest: dict, folder: Path, source: ModelSource, profile: Profile, fix: str,
                  packed: bool = False) -> None:
    """This model (a pack: the architecture it was made from, checked against the files already) and profile."""
    model = manifest.get("model_id") if packed else source.model_id
    check_origin(manifest, str(folder / MANIFEST_NAME), model, profile.folder, profile_sha256(profile), fix)


def _exported_hashes(folder: Path) -> dict[str, str]:
    """Graph key -> ONNX sha256 of the current export, if there is one (a GPU box may hold engines only)."""
    path = folder / MANIFEST_NAME
    if not path.is_file():
        return {}
    graphs = read_manifest(path, "ltx-trt export").get("graphs", {})
    return {key: entry.get("sha256") for key, entry in graphs.items()}


def _require(condition: bool, message: str, fix: str) -> None:
    if not condition:
        raise UserError(message, fix if fix.startswith(("run: ", "the engine pack")) else f"run: {fix}")
