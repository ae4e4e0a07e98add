"""What this machine can run: the CUDA GPU (through torch), the TensorRT backends, ONNX Runtime's providers.

Read by `ltx-trt doctor` and by `run --executor auto`. Nothing here raises for a missing piece: each
function reports what is there. Imports torch; TensorRT and ONNX Runtime only when asked about.
"""

import importlib
import importlib.util
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import torch

GIB = 2**30
VRAM_SLACK = 0.9  # a card fits a profile with at least 90% of its VRAM (drivers report a little less)


@dataclass(frozen=True)
class Gpu:
    name: str
    compute_capability: str  # "8.9", as profiles write it
    vram_gib: float


def cuda_gpu() -> Gpu | None:
    """CUDA device 0 as torch sees it, or None without a usable CUDA GPU."""
    if not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(0)
    return Gpu(props.name, f"{props.major}.{props.minor}", props.total_memory / 2**30)


def backend_version(name: str) -> str | None:
    """The installed version of a TensorRT backend module, or None if it cannot be imported."""
    if importlib.util.find_spec(name) is None:
        return None
    try:
        return importlib.import_module(name).__version__
    except ImportError:  # present but broken (e.g. missing libnvinfer): report it as absent
        return None


def onnxruntime_providers() -> list[str]:
    """ONNX Runtime's available execution providers ([] if onnxruntime is not installed)."""
    if importlib.util.find_spec("onnxruntime") is None:
        return []
    import onnxruntime

    return list(onnxruntime.get_available_providers())


def fitting_profiles(gpu: Gpu | None, profiles) -> list:
    """Profiles whose engines target this GPU's compute capability and whose VRAM it has (within 10%)."""
    if gpu is None:
        return []
    return [p for p in profiles if misfit(gpu, p) is None]


def misfit(gpu: Gpu, profile) -> str | None:
    """Why `profile` does not fit `gpu` (its compute capability, or the VRAM rule), or None if it does."""
    if gpu.compute_capability not in profile.compute_capabilities:
        return f"targets compute capability {'/'.join(profile.compute_capabilities)}"
    if gpu.vram_gib < VRAM_SLACK * profile.vram_gib:
        return f"needs {VRAM_SLACK * profile.vram_gib:.1f} GiB of VRAM ({profile.vram_gib:g} GiB card)"
    return None


def free_vram_gib() -> float | None:
    """Device memory free right now on CUDA device 0 (other processes' use included), or None."""
    return torch.cuda.mem_get_info(0)[0] / GIB if torch.cuda.is_available() else None


def driver_version() -> str | None:
    """The NVIDIA driver's version as nvidia-smi reports it, or None without nvidia-smi."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip().splitlines()[0] if done.stdout.strip() else None


def host_memory_gib(meminfo: Path = Path("/proc/meminfo")) -> tuple[float, float] | None:
    """(total, available) host RAM in GiB from /proc/meminfo, or None where it cannot be read."""
    try:
        fields = dict(line.split(":", 1) for line in meminfo.read_text().splitlines() if ":" in line)
        total, available = (int(fields[k].split()[0]) * 1024 / GIB for k in ("MemTotal", "MemAvailable"))
    except (OSError, KeyError, ValueError, IndexError):
        return None
    return total, available


def free_disk_gib(folder: Path) -> float | None:
    """Free space for the folder (or its nearest existing parent), or None."""
    folder = Path(folder).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free / GIB
    except OSError:
        return None
