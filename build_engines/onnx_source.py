"""The build stage's input: the export's ONNX manifest, read strictly and checked against the profile.

A manifest that is missing, corrupt, from another model or profile, or made from another version of the
profile file is refused with the export command that fixes it. ONNX files are checked against the
manifest's hashes before use. Pure Python; never imports export, model, torch or TensorRT.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ltx_trt.core.components import COMPONENTS
from ltx_trt.core.errors import UserError
from ltx_trt.core.manifest import MANIFEST_NAME, check_origin, read_manifest
from ltx_trt.core.profiles import Profile
from ltx_trt.core.trust import Verifier, check_key

FORMAT = 1


@dataclass(frozen=True)
class OnnxFile:
    name: str  # relative to the onnx folder
    sha256: str


@dataclass(frozen=True)
class OnnxGraph:
    """One exported graph: what its engine is built from."""

    key: str
    component: str
    variant: str
    precision: str
    onnx: OnnxFile
    data_files: tuple[OnnxFile, ...]  # external weights, resolved by the parser relative to the .onnx
    inputs: tuple[dict, ...]  # {"name", "shape", "dtype"}: the names the runtime binds
    outputs: tuple[dict, ...]

    @property
    def files(self) -> tuple[OnnxFile, ...]:
        return (self.onnx, *self.data_files)


@dataclass(frozen=True)
class OnnxExport:
    folder: Path
    manifest_sha256: str  # of manifest.json's bytes: which export these engines came from
    checkpoint: dict
    graphs: tuple[OnnxGraph, ...]
    partial: bool  # `export --component ...`: graphs not listed keep their engines


def read_export(folder: Path, model_id: str, profile: Profile, profile_hash: str, fix: str) -> OnnxExport:
    """Read `<folder>/manifest.json` and refuse it, naming the fix, unless it is this model and profile."""
    path = Path(folder) / MANIFEST_NAME
    data = read_manifest(path, fix)
    where = f"ONNX manifest {path}"
    _require(isinstance(data, dict) and data.get("format") == FORMAT and data.get("stage") == "export",
             f"{where} is not an export manifest of format {FORMAT}", fix)
    check_origin(data, where, model_id, profile.folder, profile_hash, fix)
    graphs = data.get("graphs")
    _require(isinstance(graphs, dict) and graphs, f"{where} lists no graphs", fix)
    parsed = tuple(_graph(key, entry, f"{where}, graph {key!r}", fix) for key, entry in graphs.items())
    for graph in parsed:
        want = profile.precision[graph.component]
        _require(graph.precision == want, f"{where}: {graph.key} was exported in {graph.precision}, "
                 f"profile {profile.name!r} asks for {want}", fix)
    order = {c: i for i, c in enumerate(COMPONENTS)}
    parsed = tuple(sorted(parsed, key=lambda g: (order[g.component], g.variant)))
    return OnnxExport(Path(folder), hashlib.sha256(path.read_bytes()).hexdigest(), data.get("checkpoint") or {},
                      parsed, data.get("partial") is True)


def verify_files(export: OnnxExport, graph: OnnxGraph, verifier: Verifier, fix: str) -> None:
    """Check each file of `graph` (confined to the onnx folder) against its manifest hash; the verifier
    re-hashes only files whose identity changed since they last matched (the weights are tens of GB)."""
    for item in graph.files:
        verifier.verify(item.name, item.sha256, f"the ONNX manifest of {export.folder}", fix)


def _graph(key: str, entry, where: str, fix: str) -> OnnxGraph:
    check_key(key, where, fix)
    _require(isinstance(entry, dict), f"{where} is not a table", fix)
    try:
        component, variant = entry["component"], entry["variant"]
        graph = OnnxGraph(key, component, variant, entry["precision"], _file(entry),
                          tuple(_file(d) for d in entry.get("data_files", [])),
                          tuple(entry["inputs"]), tuple(entry["outputs"]))
    except (KeyError, TypeError) as err:
        raise UserError(f"{where} is incomplete (missing or malformed {err})", f"run: {fix}") from err
    _require(component in COMPONENTS, f"{where}: unknown component {component!r}", fix)
    _require(key == (f"{component}.{variant}" if variant else component), f"{where}: key does not match "
             f"component {component!r} and variant {variant!r}", fix)
    for item in graph.files:
        _require(Path(item.name).name == item.name and not item.name.startswith("."),
                 f"{where}: file {item.name!r} is not a plain name in the onnx folder", fix)
    return graph


def _file(entry: dict) -> OnnxFile:
    name, sha = entry["file"], entry["sha256"]
    if not (isinstance(name, str) and isinstance(sha, str)):
        raise TypeError("'file'/'sha256'")
    return OnnxFile(name, sha)


def _require(condition: bool, message: str, fix: str) -> None:
    if not condition:
        raise UserError(message, f"run: {fix}")
