"""`ltx-trt verify`: every graph of a profile run on the reference inputs export stored beside its ONNX, its
outputs compared with the stored PyTorch ones through Polygraphy's comparators: `L2CompareFunc` decides
(relative L2 within the tolerance of the graph's precision, core/tolerances.py), `SimpleCompareFunc` gives
the max and mean absolute errors of the table.

With a CUDA GPU and the profile's TensorRT backend the built engines run (runtime/executors/tensorrt.py);
otherwise the exported ONNX on ONNX Runtime's CPU provider (runtime/executors/onnxruntime.py: bf16 graphs
as fp32, packed 4-bit inputs bound as such; it has no FP4, so graphs with NVFP4 inputs are skipped). Every
file comes from a manifest through core.trust, the reference files by their sha256. Engines that pass are
recorded in engines/verify.json (the engine manifest's sha256); `run` suggests verify for any others.
Imports core, export (the reference reader), model, runtime, commands; Polygraphy and the executors lazily.
"""

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ltx_trt.commands import artifacts as stored
from ltx_trt.commands.opening import model_files
from ltx_trt.commands.pack import install_pack
from ltx_trt.commands.recorded import NOT_RECORDED, as_reference, record_clip
from ltx_trt.core import source as layout
from ltx_trt.core.backends import PIP_INSTALL
from ltx_trt.core.components import COMPONENTS
from ltx_trt.core.dtypes import storage_shape, torch_dtype
from ltx_trt.core.errors import UserError
from ltx_trt.core.manifest import MANIFEST_NAME, sha256_file, write_atomic
from ltx_trt.core.plan import Graph, physical, profile_graphs
from ltx_trt.core.profiles import Profile
from ltx_trt.core.source import ModelSource, engines_dir
from ltx_trt.core.tolerances import RELATIVE_L2, graph_key
from ltx_trt.core.trust import Verifier
from ltx_trt.export.reference import read_reference
from ltx_trt.runtime import devices

RECORD_NAME = "verify.json"  # engines/: {"engine_manifests": [sha256 of each manifest.json that passed]}
NO_FP4 = "skipped (ONNX Runtime has no FP4)"
NO_REFERENCE = "skipped (no reference: export writes them for the tiny model only)"
_COLUMNS = f"{'':>5}  {'graph':<42} {'precision':<9} {'max abs':>9} {'mean abs':>9} {'rel L2':>9} {'tolerance':>18}  result"


@dataclass(frozen=True)
class Row:
    """One graph's line of the table: its worst output's errors, or why it was not checked."""

    graph: str
    precision: str
    tolerance: str  # its key in core.tolerances.RELATIVE_L2
    max_abs: float = float("nan")
    mean_abs: float = float("nan")
    relative_l2: float = float("nan")
    failed: tuple[str, ...] = ()  # outputs beyond the tolerance
    skipped: str = ""


@dataclass(frozen=True)
class Target:
    """What runs the graphs: an executor (runtime.executors), its device, and the engine folder if engines."""

    executor: object
    device: torch.device
    name: str  # for the header line, e.g. "onnxruntime 1.32.0 (CPU)"
    engines: stored.Artifacts | None
    pack: Path | None = None  # the installed engine pack whose engines or ONNX these are


def verify(profile: Profile, source: ModelSource, artifacts: Path, components: tuple[str, ...] = (),
           log: Callable[[str], None] = print, engines: Path | None = None) -> list[Row]:
    """Check every graph of (model, profile) (or of `components`); raises UserError if any differs. `engines`:
    an engine pack, checked against references recorded from one clip on the user's files (commands/recorded.py)."""
    unknown = sorted(set(components) - set(COMPONENTS))
    if unknown:
        raise UserError(f"unknown component {unknown[0]!r}", f"choose from: {', '.join(COMPONENTS)}")
    files = model_files(profile, source, artifacts)
    graphs = [g for g in physical(profile_graphs(profile, files.dims)) if not components or g.component in components]
    fingerprint = files.checkpoint.header.fingerprint
    # the pack's GPU check is the engines' only where they will run (the same test as _target's)
    runs = "tensorrt" if _engines_run_here(profile) else "onnxruntime"
    pack = None if engines is None else install_pack(engines, artifacts, profile, files.architecture, runs)
    export = stored.check_onnx(artifacts, source, profile, fingerprint, graphs, pack)
    target = _target(profile, source, artifacts, fingerprint, graphs, export, log, pack)
    if pack is None:
        references, made = _references(export, graphs), "export stored"  # all verified by sha256 before any runs
    else:
        calls, made = record_clip(profile, source, artifacts, log), "recorded from one clip"
        references = {g.key: calls.get(g.key) for g in graphs}
    log(f"checking {len(graphs)} graphs of {source.model_id}/{profile.folder} on {target.name} against the "
        f"PyTorch references {made}")
    log(_COLUMNS)
    rows = []
    for index, graph in enumerate(graphs, 1):
        rows.append(_check(graph, references[graph.key], target))
        target.executor.release([graph.key])
        log(f"{index:>2}/{len(graphs):<2}  {format_row(rows[-1])}")
    _conclude(rows, target, profile, source, artifacts, export.fix, log, every_graph=not components)
    return rows


def format_row(row: Row) -> str:
    tolerance = f"{RELATIVE_L2[row.tolerance]:.0e} ({row.tolerance})"
    result = row.skipped or (f"FAIL ({', '.join(row.failed)})" if row.failed else "pass")
    numbers = " ".join(f"{'-' if np.isnan(v) else f'{v:.2e}':>9}" for v in (row.max_abs, row.mean_abs, row.relative_l2))
    return f"{row.graph:<42} {row.precision:<9} {numbers} {tolerance:>18}  {result}"


def suggestion(profile: Profile, source: ModelSource, artifacts: Path, engines: Path | None = None,
               pack: Path | None = None) -> str | None:
    """The line `run` prints for engines `verify` has not passed yet (None once it has); `engines`: the pack
    archive the run uses, `pack`: where it was installed."""
    folder = engines_dir(artifacts, source.model_id, profile.folder) if pack is None else pack / "engines"
    if sha256_file(folder / MANIFEST_NAME) in _recorded(folder):
        return None
    command = layout.verify_command(profile.flags, source.model_id, source.checkpoint, artifacts, source.gemma)
    command += "" if engines is None else f" --engines {engines}"
    return f"these engines have not been checked on this GPU against PyTorch yet: {command}"


def _references(export: stored.Artifacts, graphs: list[Graph]) -> dict[str, Path | None]:
    """Graph key -> its reference file, confined and checked by sha256 (None: export wrote none)."""
    verifier, where = Verifier(export.folder), f"the ONNX manifest of {export.folder}"
    found = {}
    for graph in graphs:
        entry = export.manifest["graphs"][graph.key]
        name = entry.get("reference")
        found[graph.key] = None if name is None else verifier.verify(name, entry.get("reference_sha256"), where,
                                                                     export.fix)
    verifier.save()
    return found


def _target(profile: Profile, source: ModelSource, artifacts: Path, fingerprint: str, graphs: list[Graph],
            export: stored.Artifacts, log: Callable[[str], None], pack: Path | None = None) -> Target:
    """The engines on a CUDA GPU with the profile's backend installed; else ONNX Runtime on the CPU (said so)."""
    gpu, version = devices.cuda_gpu(), devices.backend_version(profile.backend)
    if _engines_run_here(profile):
        from ltx_trt.runtime.executors.tensorrt import TensorRTExecutor

        engines = stored.check_engines(artifacts, source, profile, fingerprint, graphs, pack)
        stored.check_compute_capability(engines.manifest, gpu.name, gpu.compute_capability, profile)
        executor = TensorRTExecutor(engines.folder, engines.manifest, engines.fix)
        return Target(executor, torch.device("cuda"), f"{profile.backend} {version} ({gpu.name})", engines, pack)
    missing = "no CUDA GPU" if gpu is None else f"{profile.backend} is not installed ({PIP_INSTALL[profile.backend]})"
    log(f"{missing}: checking the exported ONNX on ONNX Runtime (CPU) instead of the engines")
    import onnxruntime

    from ltx_trt.runtime.executors.onnxruntime import CPU, OnnxRuntimeExecutor

    executor = OnnxRuntimeExecutor(export.folder, export.manifest, (CPU,), export.fix)
    return Target(executor, torch.device("cpu"), f"onnxruntime {onnxruntime.__version__} (CPU)", None, pack)


def _engines_run_here(profile: Profile) -> bool:
    """A CUDA GPU and the profile's backend: verify runs the engines; otherwise the ONNX on the CPU."""
    return devices.cuda_gpu() is not None and devices.backend_version(profile.backend) is not None


def _check(graph: Graph, reference: Path | tuple | None, target: Target) -> Row:
    """reference: export's file, or a call recorded from one clip, or None (none: the row says why)."""
    row = Row(graph.key, graph.precision, graph_key(graph.precision, graph.variant))
    if reference is None:
        return dataclasses.replace(row, skipped=NO_REFERENCE if target.pack is None else NOT_RECORDED)
    if target.engines is None and any(s.dtype == "float4_e2m1" for s in graph.inputs):
        return dataclasses.replace(row, skipped=NO_FP4)
    inputs, expected = read_reference(reference) if isinstance(reference, Path) else as_reference(reference)
    return _compare(row, _run(graph, inputs, expected, target), expected)


def _run(graph: Graph, inputs: dict, expected: dict, target: Target) -> dict[str, np.ndarray]:
    """The graph's outputs on the reference inputs, as float64 arrays shaped (and sampled) as the reference."""
    specs = {s.name: storage_shape(s.dtype, s.shape) for s in graph.inputs}
    if {n: tuple(a.shape) for n, a in inputs.items()} != specs or set(expected) != {s.name for s in graph.outputs}:
        raise UserError(f"the reference file of {graph.key} does not hold this graph's inputs and outputs",
                        "re-export: ltx-trt export (for this --gpu and model)")
    feeds = {s.name: torch.from_numpy(inputs[s.name]).to(torch_dtype(s.dtype)).to(target.device) for s in graph.inputs}
    outputs = {s.name: torch.empty(storage_shape(s.dtype, s.shape), dtype=torch_dtype(s.dtype), device=target.device)
               for s in graph.outputs}
    with torch.no_grad():
        target.executor.run(graph.key, feeds, outputs)
    produced = {}
    for name, (values, index) in expected.items():
        flat = outputs[name].cpu().to(torch.float64).numpy().reshape(-1)  # .cpu() waits for the stream
        produced[name] = (flat[index] if index is not None else flat).reshape(values.shape)
    return produced


def _compare(row: Row, produced: dict[str, np.ndarray], expected: dict) -> Row:
    """Polygraphy's comparison of the produced outputs with the reference: relative L2 decides, as the
    absolute L2 of the difference against tolerance x the reference's norm."""
    from polygraphy.comparator import IterationResult, L2CompareFunc, SimpleCompareFunc
    from polygraphy.logger import G_LOGGER

    reference = {name: np.asarray(values, np.float64) for name, (values, _) in expected.items()}
    norms = {name: max(float(np.linalg.norm(values)), 1e-30) for name, values in reference.items()}
    tolerance = RELATIVE_L2[row.tolerance]
    ours, theirs = IterationResult(produced, runner_name="graph"), IterationResult(reference, runner_name="pytorch")
    with G_LOGGER.verbosity(G_LOGGER.CRITICAL):  # the table is the report
        stats = SimpleCompareFunc(check_error_stat="max")(ours, theirs)
        l2 = L2CompareFunc(l2_threshold={name: tolerance * norm for name, norm in norms.items()})(ours, theirs)
    return dataclasses.replace(
        row, max_abs=max(stats[n].max_absdiff for n in reference), mean_abs=max(stats[n].mean_absdiff for n in reference),
        relative_l2=max(l2[n].l2_norm / norms[n] for n in reference), failed=tuple(n for n in reference if not l2[n]))


def _conclude(rows: list[Row], target: Target, profile: Profile, source: ModelSource, artifacts: Path, fix: str,
              log: Callable[[str], None], every_graph: bool) -> None:
    """Raise for any failure (one line + hint); else record the engines as verified (all of them were
    checked) and print the summary line."""
    checked = [r for r in rows if not r.skipped]
    failed = [r for r in rows if r.failed]
    if failed:
        again = layout.build_command(profile.flags, source.model_id, source.checkpoint, artifacts) + " --force" \
            if target.engines else fix
        raise UserError(f"{len(failed)} of {len(checked)} graphs differ from their PyTorch reference beyond tolerance: "
                        f"{', '.join(r.graph for r in failed)}",
                        f"run: {again}; if they still differ, report it with the table above")
    if not checked:
        raise UserError(f"none of the {len(rows)} graphs could be checked ({rows[0].skipped if rows else 'no graphs'})",
                        "export writes reference outputs for the tiny model: try --model tiny")
    if target.engines is not None and every_graph:
        folder = target.engines.folder
        known = _recorded(folder) | {sha256_file(folder / MANIFEST_NAME)}
        write_atomic(folder / RECORD_NAME, {"engine_manifests": sorted(known)})
    log(f"all {len(checked)} checked graphs match their references"
        + (f" ({len(rows) - len(checked)} skipped)" if len(checked) < len(rows) else ""))


def _recorded(folder: Path) -> set[str]:
    """The engine manifests verify passed in `folder` (a damaged record only costs a re-check)."""
    try:
        known = json.loads((folder / RECORD_NAME).read_text()).get("engine_manifests", [])
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return set()
    return {k for k in known if isinstance(k, str)} if isinstance(known, list) else set()
