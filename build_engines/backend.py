"""The one place that knows how the two TensorRT backends differ; everything else is backend-agnostic.

Both modules have the same builder / network / ONNX-parser API and build strongly typed networks:
  what                 tensorrt_rtx (RTX GPUs)                       tensorrt (H100, H200, ...)
  build host           any machine, no GPU needed (CPU-only AOT)     the target GPU itself
  target GPUs          listed in the config: num_compute_capabilities  the GPU present, checked against
                       + set_compute_capability (set explicitly, see   the profile through the CUDA driver
                       unset, an unsupported GPU silently drops out)
  timing cache         none (a no-op that forces a GPU query)        a file beside the engines
  kernels              compiled at first run: the runtime keeps a    inside the engine
                       runtime cache file (RUNTIME_CACHE)
  memory report        builder log only (deserialising needs a       builder log + the deserialised
                       CUDA driver)                                  engine's own figures
The TensorRT module is imported by `load_backend` only. Never imports export, model or torch.
"""

import ctypes
import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from ltx_trt.core.backends import PIP_INSTALL
from ltx_trt.core.errors import UserError
from ltx_trt.core.profiles import Profile

# Where the runtime keeps TensorRT-RTX's JIT kernel cache, relative to the engines folder: one file per
# GPU (`{cc}` is the compute capability without the dot, e.g. sm89.bin). Recorded in the manifest.
RUNTIME_CACHE = "runtime-cache/sm{cc}.bin"
TIMING_CACHE = "timing.cache"


@dataclass(frozen=True)
class Traits:
    pip: str  # the install command for a missing module
    targets_in_config: bool  # builds for listed compute capabilities (else for the GPU present)
    timing_cache: str | None  # file name in the engines folder
    runtime_cache: str | None  # path convention for the runtime's kernel cache
    deserializes_on_build_host: bool  # a GPU is present, so the built engine can report its own memory


TRAITS = {
    "tensorrt_rtx": Traits(pip=PIP_INSTALL["tensorrt_rtx"], targets_in_config=True, timing_cache=None,
                           runtime_cache=RUNTIME_CACHE, deserializes_on_build_host=False),
    "tensorrt": Traits(pip=PIP_INSTALL["tensorrt"], targets_in_config=False, timing_cache=TIMING_CACHE,
                       runtime_cache=None, deserializes_on_build_host=True),
}


@dataclass(frozen=True)
class Backend:
    name: str  # the profile's `backend`, which is also the module name
    trt: ModuleType
    traits: Traits

    @property
    def version(self) -> str:
        return self.trt.__version__


def load_backend(profile: Profile) -> Backend:
    """Import the profile's TensorRT module; a missing one is a one-line error with the pip command."""
    traits = TRAITS[profile.backend]
    try:
        module = importlib.import_module(profile.backend)
    except ImportError as err:
        raise UserError(f"profile {profile.name!r} builds with {profile.backend}, which is not installed ({err})",
                        traits.pip) from err
    return Backend(profile.backend, module, traits)


def check_targets(backend: Backend, profile: Profile) -> tuple[str, ...]:
    """The compute capabilities the engines will run on, refused early when this backend cannot serve them."""
    if backend.traits.targets_in_config:
        for cc in profile.compute_capabilities:
            _rtx_capability(backend, cc, profile)
        return profile.compute_capabilities
    present = _device_capability()
    if tuple(profile.compute_capabilities) != (present,):
        raise UserError(f"{backend.name} builds for the GPU it runs on (compute capability {present}), but profile "
                        f"{profile.name!r} is for {', '.join(profile.compute_capabilities)}",
                        f"run build-engines --gpu {profile.name} on a {profile.gpu}")
    return profile.compute_capabilities


def create_network(backend: Backend, builder):
    # STRONGLY_TYPED: required on TensorRT 10 and TensorRT-RTX, accepted and ignored on TensorRT 11.
    flag = backend.trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED
    return builder.create_network(1 << int(flag))


def configure(backend: Backend, config, targets: tuple[str, ...], weight_streaming: bool) -> None:
    """Precision needs no flag (strongly typed: it lives in the ONNX); targets and streaming do."""
    trt = backend.trt
    if backend.traits.targets_in_config:
        config.num_compute_capabilities = len(targets)
        for index, cc in enumerate(targets):
            config.set_compute_capability(getattr(trt.ComputeCapability, _sm(cc)), index)
    if weight_streaming:
        config.set_flag(trt.BuilderFlag.WEIGHT_STREAMING)


def attach_timing_cache(backend: Backend, config, engines_dir: Path):
    """Load the on-disk timing cache into `config` where the backend has one; returns it or None."""
    name = backend.traits.timing_cache
    if name is None:
        return None
    path = engines_dir / name
    cache = config.create_timing_cache(path.read_bytes() if path.is_file() else b"")
    config.set_timing_cache(cache, False)  # False: a cache from another GPU or version is refused, not mixed in
    return cache


def save_timing_cache(backend: Backend, cache, engines_dir: Path) -> None:
    if cache is None:
        return
    path = engines_dir / backend.traits.timing_cache
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(memoryview(cache.serialize()))
    tmp.replace(path)


def engine_memory(backend: Backend, logger, serialized) -> dict | None:
    """The engine's own memory figures where it can be deserialised on the build host (full TensorRT)."""
    if not backend.traits.deserializes_on_build_host:
        return None
    engine = backend.trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("the engine just built does not deserialise on the GPU that built it (see the build log)")
    return {"device_memory_bytes": int(engine.device_memory_size_v2),
            "streamable_weights_bytes": int(engine.streamable_weights_size)}


def _sm(cc: str) -> str:
    return "SM" + cc.replace(".", "")  # "8.9" -> SM89, "12.0" -> SM120


def _rtx_capability(backend: Backend, cc: str, profile: Profile) -> None:
    known = [m for m in backend.trt.ComputeCapability.__members__ if m.startswith("SM")]
    if _sm(cc) not in known:
        listed = ", ".join(f"{m[2:-1]}.{m[-1]}" for m in known)
        raise UserError(f"{backend.name} {backend.version} cannot build for compute capability {cc} "
                        f"(profile {profile.name!r}); it targets {listed}",
                        'GPUs it does not list (H100/H200 are 9.0) need backend = "tensorrt" in the profile')


def _device_capability() -> str:
    """Compute capability of CUDA device 0, read through the driver API (no CUDA toolkit, no torch)."""
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError as err:
        raise UserError("full TensorRT builds engines on their target GPU, and this machine has no CUDA driver",
                        "run build-engines on the GPU the profile names") from err
    device, major, minor = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
    status = cuda.cuInit(0) or cuda.cuDeviceGet(ctypes.byref(device), 0)
    # 75 and 76: CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR / _MINOR
    status = status or cuda.cuDeviceGetAttribute(ctypes.byref(major), 75, device)
    status = status or cuda.cuDeviceGetAttribute(ctypes.byref(minor), 76, device)
    if status:
        raise UserError(f"the CUDA driver found no usable GPU (CUresult {status})",
                        "run build-engines on the GPU the profile names")
    return f"{major.value}.{minor.value}"
