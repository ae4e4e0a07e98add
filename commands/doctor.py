"""`ltx-trt doctor`: what this machine has (GPU, TensorRT backends, executors), which profile fits it,
and which exports and engines the artifacts folder holds.

Reports only; never raises for a missing piece. Imports torch and runtime.
"""

import importlib.metadata
import json
from pathlib import Path

import torch

from ltx_trt.core.backends import BACKENDS
from ltx_trt.core.manifest import MANIFEST_NAME
from ltx_trt.core.profiles import available_profiles, load_profile
from ltx_trt.runtime import devices


def report(artifacts: Path) -> list[str]:
    """The doctor's lines, in reading order."""
    gpu = devices.cuda_gpu()
    profiles = [load_profile(name) for name in available_profiles()]
    lines = [_gpu_line(gpu), "backends:"]
    for name in BACKENDS:
        version = devices.backend_version(name)
        lines.append(f"  {name}: {version or 'not installed'}")
    providers = devices.onnxruntime_providers()
    lines += ["executors:",
              f"  onnxruntime: {_version('onnxruntime')} ({', '.join(providers)})" if providers
              else "  onnxruntime: not installed",
              f"  torch: {torch.__version__} ({'CUDA ' + str(torch.version.cuda) if gpu else 'CPU only'})"]
    fitting = devices.fitting_profiles(gpu, profiles)
    if fitting:
        lines.append(f"profile: {', '.join(p.name for p in fitting)} (pass --gpu {fitting[0].name})")
    else:
        known = ", ".join(f"{p.name} ({'/'.join(p.compute_capabilities)})" for p in profiles)
        why = "no CUDA GPU" if gpu is None else f"none targets compute capability {gpu.compute_capability}"
        lines.append(f"profile: none fits ({why}); profiles: {known}")
    return lines + _artifact_lines(Path(artifacts))


def _gpu_line(gpu: devices.Gpu | None) -> str:
    if gpu is None:
        return "GPU: no CUDA GPU (torch.cuda.is_available() is False)"
    return f"GPU: {gpu.name}, compute capability {gpu.compute_capability}, {gpu.vram_gib:.1f} GiB"


def _artifact_lines(artifacts: Path) -> list[str]:
    """One line per <model>/<profile> folder: its ONNX export and its engines."""
    found = sorted({p.parent for p in artifacts.glob("*/*/onnx")} |
                   {p.parent for p in artifacts.glob("*/*/engines")}) if artifacts.is_dir() else []
    if not found:
        return [f"artifacts in {artifacts}: none (make them with ltx-trt export, then build-engines)"]
    lines = [f"artifacts in {artifacts}:"]
    for folder in found:
        lines.append(f"  {folder.parent.name}/{folder.name}: onnx {_onnx(folder / 'onnx')}; "
                     f"engines {_engines(folder / 'engines')}")
    return lines


def _onnx(folder: Path) -> str:
    manifest = _manifest(folder)
    if isinstance(manifest, str):
        return manifest
    graphs = manifest.get("graphs", {})
    missing = [k for k, e in graphs.items() if not (folder / e.get("file", "")).is_file()]
    partial = ", partial" if manifest.get("partial") else ""
    return f"{len(graphs)} graphs{partial}" + (f", {len(missing)} file(s) missing" if missing else "")


def _engines(folder: Path) -> str:
    manifest = _manifest(folder)
    if isinstance(manifest, str):
        return manifest
    engines = manifest.get("engines", {})
    missing = [k for k, e in engines.items() if not (folder / e.get("file", "")).is_file()]
    backend = manifest.get("backend", {})
    return (f"{len(engines)} ({backend.get('name')} {backend.get('version')}, compute capability "
            f"{', '.join(manifest.get('compute_capabilities', []))})"
            + (f", {len(missing)} file(s) missing" if missing else ""))


def _manifest(folder: Path) -> dict | str:
    path = folder / MANIFEST_NAME
    if not folder.is_dir():
        return "none"
    if not path.is_file():
        return "incomplete (no manifest.json)"
    try:
        return json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "corrupt manifest.json"


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None
