"""`ltx-trt export`: every graph of a (model, profile) pair to ONNX, then the manifest, last.

Work happens in `onnx.partial/`; the finished folder replaces `onnx/` only after its manifest is
written, so an interrupted export never leaves a manifest claiming success.
Imports torch, onnx, ltx-core (through model/); of ltx_trt, imports core and model.
"""

import json
import shutil
import time
from pathlib import Path

import onnx

from ltx_trt.core.checkpoint import read_header
from ltx_trt.core.components import COMPONENTS
from ltx_trt.core.dtypes import torch_dtype
from ltx_trt.core.errors import UserError
from ltx_trt.core.manifest import MANIFEST_NAME, sha256_file, write_atomic
from ltx_trt.core.plan import ACTIVATIONS, Graph, physical, profile_graphs
from ltx_trt.core.profiles import Profile, profile_sha256
from ltx_trt.core.source import TINY_ID, ModelSource, check_writable, onnx_dir
from ltx_trt.export import onnx_export
from ltx_trt.export.checks import check_graph, op_counts
from ltx_trt.export.reference import write_reference


def export_model(source: ModelSource, profile: Profile, artifacts: Path, only: tuple[str, ...] | None = None,
                 log=print) -> Path:
    import torch

    from ltx_trt.model.files import ModelFiles

    unknown = sorted(set(only or ()) - set(COMPONENTS))
    if unknown:
        raise UserError(f"unknown component {unknown[0]!r}", f"choose from: {', '.join(COMPONENTS)}")
    final = onnx_dir(artifacts, source.model_id, profile.folder)
    check_writable(final.parent)
    files = ModelFiles(source)
    graphs = [g for g in physical(profile_graphs(profile, files.dims)) if not only or g.component in only]
    staging = final.with_name("onnx.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    started = time.perf_counter()
    log(f"exporting {len(graphs)} graphs of {source.model_id} for {profile.name} into {final}")
    entries = {}
    try:
        with torch.no_grad():
            for component in dict.fromkeys(g.component for g in graphs):
                todo = [g for g in graphs if g.component == component]
                entries |= _export_component(files, component, todo, staging, source.model_id == TINY_ID, log)
        manifest = _manifest(source, profile, files, entries, time.perf_counter() - started, bool(only), final)
        write_atomic(staging / MANIFEST_NAME, manifest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # nothing half-written stays behind
        raise
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    log(f"export finished in {time.perf_counter() - started:.1f} s: {final / MANIFEST_NAME}")
    return final


def _export_component(files, component: str, graphs: list[Graph], out: Path, reference: bool, log) -> dict:
    from ltx_trt.model.graph_modules import call_wrapped, component_model

    model = component_model(component)
    dtype = torch_dtype(ACTIVATIONS[graphs[0].precision])
    t0 = time.perf_counter()
    module = model.build(files, dtype)
    log(f"  {component}: built from the checkpoint in {time.perf_counter() - t0:.1f} s")
    entries = {}
    for graph in graphs:
        t0 = time.perf_counter()
        wrapper = model.wrap(module, graph)
        inputs = model.example_inputs(module, graph, seed=0)
        ir_model = onnx_export.trace(wrapper, inputs, graph, model.export_overrides)
        data_files = onnx_export.save(ir_model, wrapper, out, graph.key, files.origin_of)
        proto = onnx.load(out / f"{graph.key}.onnx", load_external_data=False)
        check_graph(proto, graph)
        if reference:
            outputs = call_wrapped(wrapper, inputs)
            write_reference(out / f"{graph.key}.reference.npz", [s.name for s in graph.inputs], inputs,
                            [s.name for s in graph.outputs], outputs)
        entries[graph.key] = _entry(graph, out, data_files, proto, reference)
        log(f"  {graph.key}: {len(proto.graph.node)} nodes, {len(data_files)} data file(s), "
            f"{time.perf_counter() - t0:.1f} s")
        del wrapper, ir_model, proto
    del module
    return entries


def _entry(graph: Graph, out: Path, data_files: list[Path], proto, reference: bool) -> dict:
    """The manifest entry of one exported graph; `reference`: whether its reference file is written."""
    linked = {Path(p).name for p in data_files if Path(p).name.startswith("weights.")}
    return {
        "component": graph.component,
        "variant": graph.variant,
        "file": f"{graph.key}.onnx",
        "sha256": sha256_file(out / f"{graph.key}.onnx"),
        "data_files": [{"file": p.name, "sha256": _linked_hash(p) if p.name in linked else sha256_file(p),
                        "linked": p.name in linked} for p in map(Path, data_files)],
        "inputs": [s.as_dict() for s in graph.inputs],
        "outputs": [s.as_dict() for s in graph.outputs],
        "precision": graph.precision,
        "nodes": len(proto.graph.node),
        "op_counts": op_counts(proto),
        "reference": f"{graph.key}.reference.npz" if reference else None,
        "reference_sha256": sha256_file(out / f"{graph.key}.reference.npz") if reference else None,
    }


def _linked_hash(path: Path) -> str:
    """A linked weight file is a source file itself (tens of GB): identified by its header fingerprint."""
    return f"fingerprint:{read_header(path).fingerprint}"


def _cached_sha256(path: Path, cache: Path) -> str:
    """sha256 of a (possibly 46 GB) source file, remembered per (path, size, mtime) across exports."""
    stat = Path(path).stat()
    key = f"{Path(path).resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    known = load_json(cache) if cache.is_file() else {}
    if key not in known:
        known[key] = sha256_file(path)
        write_atomic(cache, known)
    return known[key]


def _manifest(source: ModelSource, profile: Profile, files, entries: dict, seconds: float, partial: bool,
              final_dir: Path) -> dict:
    import importlib.metadata as md

    versions = {name: md.version(name) for name in ("ltx-trt", "ltx-core", "torch", "onnx", "onnxscript",
                                                      "transformers")}
    return {
        "format": 1,
        "stage": "export",
        "model_id": source.model_id,
        "profile": profile.folder,
        "profile_sha256": profile_sha256(profile),
        "partial": partial,
        "checkpoint": {"path": str(source.checkpoint), "fingerprint": files.checkpoint.header.fingerprint,
                       "sha256": _cached_sha256(source.checkpoint, final_dir.parent.parent / "source-hashes.json"),
                       "model_version": files.checkpoint.header.metadata.get("model_version")},
        "gemma": str(source.gemma),
        "upsampler": str(source.upsampler),
        "versions": versions,
        "export_seconds": round(seconds, 1),
        "graphs": entries,
    }


def load_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())
