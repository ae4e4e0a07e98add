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
from ltx_trt.export import cache as export_cache
from ltx_trt.export import onnx_export
from ltx_trt.export.checks import check_graph, op_counts
from ltx_trt.export.reference import write_reference


def export_model(source: ModelSource | None, profile: Profile, artifacts: Path, only: tuple[str, ...] | None = None,
                 log=print, architecture: str | None = None) -> Path:
    """Export into <artifacts>/<model>/<profile>/onnx; `architecture` (a core.architecture name, source None):
    from the architecture's configs alone (model/architecture.py), into <artifacts>/<architecture>/..."""
    import torch

    unknown = sorted(set(only or ()) - set(COMPONENTS))
    if unknown:
        raise UserError(f"unknown component {unknown[0]!r}", f"choose from: {', '.join(COMPONENTS)}")
    files = _files(source, architecture, artifacts)
    source = files.source
    final = onnx_dir(artifacts, source.model_id, profile.folder)
    check_writable(final.parent)
    graphs = [g for g in physical(profile_graphs(profile, files.dims)) if not only or g.component in only]
    staging = final.with_name("onnx.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    started = time.perf_counter()
    log(f"exporting {len(graphs)} graphs of {source.model_id} for {profile.name} into {final}")
    entries = {}
    # an architecture's graphs are shared by profiles: each is exported once per content key (export/cache.py)
    cache = export_cache.cache_dir(artifacts, source.model_id) if files.weightless else None
    try:
        with torch.no_grad():
            for component in dict.fromkeys(g.component for g in graphs):
                todo = [g for g in graphs if g.component == component]
                reference = source.model_id == TINY_ID and not files.weightless  # values exist only in files
                entries |= _export_component(files, component, todo, staging, reference, log, cache)
        manifest = _manifest(source, profile, files, entries, time.perf_counter() - started, bool(only), final)
        write_atomic(staging / MANIFEST_NAME, manifest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # nothing half-written stays behind
        raise
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    log(f"export finished in {time.perf_counter() - started:.1f} s: {final / MANIFEST_NAME}")
    return final


def _export_component(files, component: str, graphs: list[Graph], out: Path, reference: bool, log,
                      cache: Path | None) -> dict:
    """Export `graphs` of one component; with a `cache`, those already exported are copied from it (the module is
    not even built when all are) and the others are added to it."""
    keys = {g.key: export_cache.cache_key(files.architecture, g) for g in graphs} if cache else {}
    entries = {g.key: entry for g in graphs if cache and (entry := export_cache.fetch(cache, keys[g.key], g, out, log))}
    todo = [g for g in graphs if g.key not in entries]
    if todo:
        entries |= _trace_component(files, component, todo, out, reference, log)
    for graph in todo if cache else ():
        export_cache.store(cache, keys[graph.key], out, entries[graph.key])
    return {g.key: entries[g.key] for g in graphs}  # the plan's order (the manifest sorts its keys anyway)


def _trace_component(files, component: str, graphs: list[Graph], out: Path, reference: bool, log) -> dict:
    from ltx_trt.model.graph_modules import call_wrapped, component_model

    model = component_model(component)
    dtype = torch_dtype(ACTIVATIONS[graphs[0].precision])
    t0 = time.perf_counter()
    module = _unread(model.skeleton(files, dtype), dtype) if files.weightless else model.build(files, dtype)
    log(f"  {component}: built from the {'architecture' if files.weightless else 'checkpoint'} in "
        f"{time.perf_counter() - t0:.1f} s")
    entries = {}
    for graph in graphs:
        t0 = time.perf_counter()
        wrapper = model.wrap(module, graph)
        inputs = _materialized(model.example_inputs(module, graph, seed=0), graph)
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


def _files(source: ModelSource | None, architecture: str | None, artifacts: Path):
    """The model's files, or an architecture's configs alone (its Gemma config.json under <artifacts>/<name>/)."""
    from ltx_trt.model.files import ModelFiles

    if architecture is None:
        return ModelFiles(source)
    from ltx_trt.model.architecture import ArchitectureFiles

    check_writable(Path(artifacts))
    return ArchitectureFiles(architecture, Path(artifacts) / architecture / "architecture")


def _unread(module, dtype):
    """A skeleton's meta parameters as uninitialised CPU tensors in `dtype`: example inputs can run through it (no
    value matters to tracing), and memory never written takes no RAM (the 22B's are address space only)."""
    import torch

    for child in module.modules():
        for name, p in child._parameters.items():
            if p is not None and p.is_meta:
                kind = dtype if p.dtype.is_floating_point else p.dtype
                child._parameters[name] = torch.nn.Parameter(torch.empty(p.shape, dtype=kind), requires_grad=False)
    return module


def _materialized(inputs: list, graph: Graph) -> list:
    """Example inputs with meta tensors (an architecture's weights) replaced by uninitialised CPU tensors of the
    graph's dtype: tracing reads no value, and memory never touched takes no RAM."""
    import torch

    return [torch.empty(t.shape, dtype=torch_dtype(s.dtype) if t.dtype.is_floating_point else t.dtype)
            if t.is_meta else t for t, s in zip(inputs, graph.inputs)]


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
        "checkpoint": {} if files.weightless else {
            "path": str(source.checkpoint), "fingerprint": files.checkpoint.header.fingerprint,
            "sha256": _cached_sha256(source.checkpoint, final_dir.parent.parent / "source-hashes.json"),
            "model_version": files.checkpoint.header.metadata.get("model_version")},
        "architecture": {"name": source.model_id if files.weightless else None, "fingerprint": files.architecture},
        "gemma": str(source.gemma),
        "upsampler": str(source.upsampler),
        "versions": versions,
        "export_seconds": round(seconds, 1),
        "graphs": entries,
    }


def load_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())
