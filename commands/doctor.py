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
from ltx_trt.core.pipelines import PIPELINES
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
    lines.append(_host_line(Path(artifacts)))
    return lines + _profile_lines(gpu, profiles) + _bucket_lines(profiles) + _artifact_lines(Path(artifacts))


def _profile_lines(gpu: devices.Gpu | None, profiles: list) -> list[str]:
    """The profiles that fit (and whether the first one's resident budget fits the free VRAM now), or why
    none does: per profile, its compute capability or the VRAM rule."""
    fitting = devices.fitting_profiles(gpu, profiles)
    if gpu is None:
        known = ", ".join(f"{p.name} ({'/'.join(p.compute_capabilities)})" for p in profiles)
        return [f"profile: none fits (no CUDA GPU); profiles: {known}"]
    if not fitting:
        return ["profile: none fits this GPU:"] + [f"  {p.name}: {devices.misfit(gpu, p)}" for p in profiles]
    best = fitting[0]
    lines = [f"profile: {', '.join(p.name for p in fitting)} (pass --gpu {best.name})"]
    free = devices.free_vram_gib()
    if free is not None and free < best.memory.resident_gib:
        lines.append(f"  warning: {best.name} keeps up to {best.memory.resident_gib:g} GiB on the GPU, {free:.1f} GiB "
                     "is free now (other processes?): pass --resident-gib to stream more weights")
    return lines


def _bucket_lines(profiles: list) -> list[str]:
    """Each profile's buckets (every pipeline has its graphs at every bucket: core.plan)."""
    lines = [f"buckets (pipelines at each: {', '.join(PIPELINES)}):"]
    for p in profiles:
        lines.append(f"  {p.name}: " + ", ".join(f"{b.width}x{b.height}x{b.frames} ({b.fps} fps)" for b in p.buckets))
    return lines


def _host_line(artifacts: Path) -> str:
    memory, disk = devices.host_memory_gib(), devices.free_disk_gib(artifacts)
    ram = f"RAM {memory[0]:.1f} GiB ({memory[1]:.1f} available)" if memory else "RAM unknown"
    space = f"{disk:.1f} GiB free for {artifacts}" if disk is not None else f"free disk for {artifacts} unknown"
    return f"host: {ram}, {space}"


def _gpu_line(gpu: devices.Gpu | None) -> str:
    if gpu is None:
        return "GPU: no CUDA GPU (torch.cuda.is_available() is False)"
    free, driver = devices.free_vram_gib(), devices.driver_version()
    return (f"GPU: {gpu.name}, compute capability {gpu.compute_capability}, {gpu.vram_gib:.1f} GiB"
            + (f" ({free:.1f} free)" if free is not None else "") + f", driver {driver or 'unknown'}")


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
