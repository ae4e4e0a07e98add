"""The export cache: graphs exported from an architecture, shared by every profile that needs the same graph.

An architecture export (no weight values) of one graph is a function of the architecture fingerprint, the
graph (`core.plan.Graph`: key, tensor specs, precision, grid, parts and quantization layout) and the exporter
(the source of ltx_trt's export, model and core packages; torch, onnx, onnxscript, onnx-ir, ltx-core and
transformers versions). The sha256 of all that names the entry, `<cache>/<key>/`: the graph's files and
`entry.json` (its manifest entry, each file's sha256). Reuse copies the files after checking each against
those hashes; a damaged entry is removed (the graph is then exported again). Only architecture exports are
cached: a checkpoint's export links the checkpoint's bytes and writes reference values.
Imports the standard library and core; never torch.
"""

import functools
import hashlib
import importlib.metadata as md
import json
import os
import shutil
from pathlib import Path

from ltx_trt.core.errors import UserError
from ltx_trt.core.manifest import sha256_file, write_atomic
from ltx_trt.core.plan import Graph
from ltx_trt.core.trust import confined

FORMAT = 1
ENTRY_NAME = "entry.json"
CODE_PACKAGES = ("ltx_trt.export", "ltx_trt.model", "ltx_trt.core")  # the code that decides a graph's ONNX
VERSIONED = ("torch", "onnx", "onnxscript", "onnx-ir", "ltx-core", "transformers")


def cache_dir(artifacts: Path, architecture: str) -> Path:
    return Path(artifacts) / architecture / "export-cache"


def cache_key(architecture_fingerprint: str, graph: Graph) -> str:
    """sha256 of everything an architecture export of `graph` depends on."""
    described = repr(graph)  # frozen dataclasses all the way down: field values, never object addresses
    if " at 0x" in described:
        raise RuntimeError(f"graph {graph.key} has a field without a value repr; the export cache cannot key it")
    key = {"format": FORMAT, "architecture": architecture_fingerprint, "graph": described, **exporter_id()}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


@functools.cache
def exporter_id() -> dict:
    """The exporter's identity: its packages' source (any edit changes it) and the versions it runs on."""
    import importlib

    digest = hashlib.sha256()
    for package in CODE_PACKAGES:
        root = Path(importlib.import_module(package).__file__).parent
        for path in sorted(root.rglob("*.py")):
            digest.update(f"{package}/{path.relative_to(root).as_posix()}\0".encode())
            digest.update(path.read_bytes())
    return {"code_sha256": digest.hexdigest(), "versions": {name: md.version(name) for name in VERSIONED}}


def fetch(cache: Path, key: str, graph: Graph, out: Path, log) -> dict | None:
    """Copy a cached export of `graph` into `out` and return its manifest entry, or None (not cached, or an
    entry that fails its checks: it is removed and the caller exports the graph again)."""
    folder = cache / key
    if not (folder / ENTRY_NAME).is_file():
        return None
    try:
        entry, files = _checked(folder, key, graph)
    except UserError as err:
        log(f"  {graph.key}: export cache entry {key[:12]} refused ({err.message}); exporting again")
        shutil.rmtree(folder, ignore_errors=True)
        return None
    for name, path in files.items():
        shutil.copyfile(path, out / name)
    log(f"  {graph.key}: reused from the export cache ({key[:12]}, {len(files)} file(s) verified by sha256)")
    return entry


def store(cache: Path, key: str, out: Path, entry: dict) -> None:
    """Keep an exported graph's files (named by its manifest entry) under its key; the entry appears whole or not
    at all (written in a temporary folder, then renamed; another writer's finished entry is kept)."""
    folder = cache / key
    if folder.exists():
        return
    tmp = cache / f".{key}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        for name in _names(entry):
            shutil.copyfile(out / name, tmp / name)
        write_atomic(tmp / ENTRY_NAME, {"format": FORMAT, "key": key, "entry": entry})
        tmp.rename(folder)
    except OSError:
        if not folder.exists():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _checked(folder: Path, key: str, graph: Graph) -> tuple[dict, dict[str, Path]]:
    """The entry and its files (name -> confined path), refused (UserError) unless it is this key's, describes
    `graph`, names plain files in its folder and every file matches its sha256."""
    where, fix = f"export cache entry {folder}", "nothing: the graph is exported again"
    try:
        stored = json.loads((folder / ENTRY_NAME).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"{ENTRY_NAME} is unreadable ({type(err).__name__})", fix) from err
    stored = stored if isinstance(stored, dict) else {}
    entry = stored.get("entry")
    if stored.get("format") != FORMAT or stored.get("key") != key or not isinstance(entry, dict):
        raise UserError("its entry.json is not this key's", fix)
    if entry.get("file") != f"{graph.key}.onnx" or entry.get("inputs") != [s.as_dict() for s in graph.inputs]:
        raise UserError(f"it describes another graph than {graph.key}", fix)
    if entry.get("reference") or any(f.get("linked") for f in entry.get("data_files", ())):
        raise UserError("it holds reference values or linked weights", fix)
    files = {}
    for name, sha256 in _hashes(entry).items():
        path = confined(folder, name, where, fix)
        if "/" in name or not path.is_file() or path.is_symlink() or sha256_file(path) != sha256:
            raise UserError(f"{name} is missing or differs from its sha256", fix)
        files[name] = path
    return entry, files


def _hashes(entry: dict) -> dict[str, str]:
    data = entry.get("data_files")
    if not isinstance(data, list) or not all(isinstance(f, dict) for f in data):
        raise UserError("its data file list is malformed", "nothing: the graph is exported again")
    return {entry["file"]: entry.get("sha256"), **{f.get("file"): f.get("sha256") for f in data}}


def _names(entry: dict) -> list[str]:
    return [entry["file"], *(f["file"] for f in entry["data_files"])]
