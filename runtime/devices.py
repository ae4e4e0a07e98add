"""What this machine can run: the CUDA GPU (through torch), the TensorRT backends, ONNX Runtime's providers.

Read by `ltx-trt doctor` and by `run --executor auto`. Nothing here raises for a missing piece: each
function reports what is there. Imports torch; TensorRT and ONNX Runtime only when asked about.
"""

import importlib
import importlib.util
from dataclasses import dataclass

import torch




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
    return [p for p in profiles if gpu.compute_capability in p.compute_capabilities and gpu.vram_gib >= 0.9 * p.vram_gib]
