"""The TensorRT executor: one `Engine` per graph, its I/O bound once to the caller's torch buffers.

Deserialises `<engines dir>/<file>` with the module the engine manifest names (`tensorrt_rtx` on RTX
GPUs, `tensorrt` on datacenter GPUs; same runtime API), checks every I/O tensor's shape and dtype
against the buffer of the same name when binding, and enqueues on the current torch stream, so a
step can be captured in a CUDA graph. TensorRT-RTX compiles an engine's kernels for the GPU when its execution
context is made; its runtime cache (`KernelCache`) is read from and saved to the path the manifest gives, and
`loading` lets the caller announce and time each engine's load (the stage `kernels`). Engines run one at a time on one stream, so
after `reserve()` every execution context shares one activation buffer, sized to the largest of the
run (the builder's report in the engine manifest), instead of holding its own; `release()` drops
engines a run no longer needs. Imports TensorRT lazily.
"""

import importlib
from contextlib import contextmanager
from pathlib import Path

import torch

from ltx_trt.core.backends import PIP_INSTALL
from ltx_trt.core.dtypes import BY_TENSORRT, storage_shape, torch_dtype
from ltx_trt.core.errors import UserError
from ltx_trt.core.trust import confined



def import_backend(name: str):
    if name not in PIP_INSTALL:
        raise UserError(f"unknown TensorRT backend {name!r} in the engine manifest", "rebuild: ltx-trt build-engines")
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise UserError(f"the engines were built with {name}, which is not installed ({err})", PIP_INSTALL[name]) from err


def check_binding(name: str, shape: tuple[int, ...], dtype: torch.dtype, tensor: torch.Tensor | None) -> None:
    """Refuse a buffer that does not match the engine's tensor exactly: a bug, not a user error."""
    if tensor is None:
        raise ValueError(f"engine tensor {name} has no buffer")
    problems = []
    if tuple(tensor.shape) != tuple(shape):
        problems.append(f"shape {tuple(tensor.shape)} != engine {tuple(shape)}")
    if tensor.dtype != dtype:
        problems.append(f"dtype {tensor.dtype} != engine {dtype}")
    if not tensor.is_cuda or not tensor.is_contiguous():
        problems.append("not a contiguous CUDA tensor")
    if problems:
        raise ValueError(f"buffer {name}: {'; '.join(problems)}")


class Engine:
    """Owns a deserialised engine and its execution context; binds caller buffers by address."""

    def __init__(self, path: Path, trt, kernels: "KernelCache | None" = None,
                 scratch: torch.Tensor | None = None) -> None:
        """kernels: TensorRT-RTX's runtime cache shared by the run's engines (None: the backend has none).
        scratch: a CUDA byte buffer the context uses as its activation memory (None: its own)."""
        self.path, self.trt = Path(path), trt
        self.runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = self.runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self.engine is None:
            raise UserError(f"TensorRT could not load {self.path} (built for another GPU or TensorRT version?)",
                            "rebuild: ltx-trt build-engines --force (for this --gpu)")
        config = None
        if kernels is not None:  # TensorRT-RTX: kernels JIT-compiled for this GPU, kept across runs
            config = self.engine.create_runtime_config()
            kernels.attach(config)
        self.context = self._context(config, scratch is not None)  # TensorRT-RTX compiles here
        if scratch is not None:
            self._use(scratch)
        self.names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.bound: dict[str, int] = {}

    def _context(self, config, user_managed: bool):
        strategy = self.trt.ExecutionContextAllocationStrategy
        strategy = strategy.USER_MANAGED if user_managed else strategy.STATIC
        if config is not None:  # TensorRT-RTX: the strategy travels in the runtime config
            config.set_execution_context_allocation_strategy(strategy)
            return self.engine.create_execution_context(config)
        return self.engine.create_execution_context(strategy)

    def _use(self, scratch: torch.Tensor) -> None:
        need = self.engine.device_memory_size_v2
        if need > scratch.numel():
            raise UserError(f"{self.path.name} needs {need} bytes of activation memory, more than the builder "
                            f"reported for the run's engines ({scratch.numel()})", "rebuild: ltx-trt build-engines --force")
        self.context.set_device_memory(scratch.data_ptr(), need)

    def close(self) -> None:
        """Free the context, then the engine (TensorRT requires that order)."""
        self.context = None
        self.engine = None

    def bind(self, tensors: dict[str, torch.Tensor]) -> None:
        """Bind every I/O tensor to the buffer of the same name, after checking shape and dtype."""
        for name in self.names:
            kind = BY_TENSORRT[self.engine.get_tensor_dtype(name).name].name
            shape = storage_shape(kind, tuple(self.engine.get_tensor_shape(name)))  # packed 4-bit: [..., K/2]
            check_binding(name, shape, torch_dtype(kind), tensors.get(name))
            self.context.set_tensor_address(name, tensors[name].data_ptr())
        self.bound = {name: tensors[name].data_ptr() for name in self.names}

    def enqueue(self, stream: int) -> None:
        if not self.context.execute_async_v3(stream):
            raise RuntimeError(f"TensorRT failed to enqueue {self.path.name}")

class KernelCache:
    """TensorRT-RTX's runtime cache: the kernels it JIT-compiles for this GPU when an engine's execution context
    is made, read from `path` (one file per GPU kind) by the first engine and written back by `save()`, so a
    later run reads them instead of compiling. `grown()` says how many bytes the last context added."""

    def __init__(self, path: Path) -> None:
        self.path, self.cache = Path(path), None
        self.read_bytes = self.path.stat().st_size if self.path.is_file() else 0
        self._size = self.read_bytes

    def state(self) -> str:
        """One log line: reused from an earlier run, or compiled by this one."""
        if self.read_bytes:
            return (f"TensorRT-RTX runtime cache reused: {self.path} ({self.read_bytes / 2**20:.1f} MiB of kernels "
                    "compiled by an earlier run; engines whose kernels it holds skip the compilation)")
        return (f"TensorRT-RTX runtime cache: none yet at {self.path}; this first run compiles every engine's "
                "kernels (stage `kernels`) and saves them for the next")

    def attach(self, config) -> None:
        if self.cache is None:
            self.cache = config.create_runtime_cache()
            if self.read_bytes:
                self.cache.deserialize(self.path.read_bytes())
        config.set_runtime_cache(self.cache)

    def grown(self) -> int:
        """Bytes the cache gained since the last call: kernels compiled rather than read."""
        size = len(bytes(self.cache.serialize())) if self.cache is not None else self._size
        grown, self._size = size - self._size, size
        return grown

    def save(self) -> int:
        """Write the cache (atomically: a run stopped mid-write leaves the old file); returns its size."""
        if self.cache is None:
            return 0
        data = bytes(self.cache.serialize())
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_bytes(data)
        partial.replace(self.path)
        return len(data)


class TensorRTExecutor:
    """Owns the engines of one engine folder, deserialised on first use."""

    def __init__(self, engines_dir: Path, manifest: dict, fix: str = "ltx-trt build-engines", trt=None,
                 capability: tuple[int, int] | None = None) -> None:
        """trt: the backend module (default: the one the manifest names); capability: the GPU's (default: the
        current CUDA device's), which names the runtime cache file."""
        self.engines_dir, self.fix = Path(engines_dir), fix
        self.entries = manifest.get("engines", {})
        self.trt = trt or import_backend(manifest["backend"]["name"])
        cache = manifest.get("runtime_cache")  # e.g. "runtime-cache/sm{cc}.bin", one file per GPU kind
        major, minor = capability or (torch.cuda.get_device_capability() if cache else (0, 0))
        self.kernels = KernelCache(confined(self.engines_dir, cache.replace("{cc}", f"{major}{minor}"),
                                            "the engine manifest", fix)) if isinstance(cache, str) and cache else None
        self.loading = _not_announced  # graph key -> context manager around an engine's load (commands/session.py)
        self.engines: dict[str, Engine] = {}
        self.scratch: torch.Tensor | None = None  # shared activation memory, see reserve()

    def reserve(self, graph_keys: list[str]) -> int:
        """Allocate the activation buffer all of these engines share: the largest `activation_bytes` the
        builder reported for them (engine manifest). Call before the first engine loads; returns bytes."""
        sizes = [self.entries.get(k, {}).get("memory", {}).get("activation_bytes") for k in graph_keys]
        if self.engines or not sizes or None in sizes:
            return 0  # engines already loaded, or a manifest without the report: each context its own
        self.scratch = torch.empty(max(sizes), dtype=torch.uint8, device="cuda")
        return self.scratch.numel()

    def release(self, graph_keys: list[str]) -> None:
        """Drop these engines (their weights and contexts); a later run() of one loads it again."""
        for key in graph_keys:
            engine = self.engines.pop(key, None)
            if engine is not None:
                engine.close()

    def run(self, graph_key: str, inputs: dict[str, torch.Tensor], outputs: dict[str, torch.Tensor]) -> None:
        engine = self.engines.get(graph_key) or self.load(graph_key)
        tensors = {**inputs, **outputs}
        if engine.bound != {name: tensors[name].data_ptr() for name in engine.names if name in tensors}:
            engine.bind(tensors)
        engine.enqueue(torch.cuda.current_stream().cuda_stream)

    def load(self, graph_key: str) -> Engine:
        """Deserialise the engine of `graph_key` and make its context (TensorRT-RTX compiles its kernels here)."""
        entry = self.entries.get(graph_key)
        path = confined(self.engines_dir, entry.get("file"), "the engine manifest", self.fix) \
            if isinstance(entry, dict) else None
        if path is None or not path.is_file():
            raise UserError(f"no engine for {graph_key} in {self.engines_dir}", f"run: {self.fix}")
        with self.loading(graph_key):
            self.engines[graph_key] = Engine(path, self.trt, self.kernels, self.scratch)
        return self.engines[graph_key]

    def save_runtime_cache(self) -> int:
        """Keep TensorRT-RTX's compiled kernels for the next run (no-op for full TensorRT); returns bytes written."""
        return self.kernels.save() if self.kernels is not None else 0


@contextmanager
def _not_announced(graph_key: str):
    yield
