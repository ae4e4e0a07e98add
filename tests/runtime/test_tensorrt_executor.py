"""The TensorRT engine binding: checks on the CPU; a real engine run where a GPU and TensorRT are."""

import importlib.util
import json
import types

import pytest
import torch

from ltx_trt.commands.session import announce_kernels
from ltx_trt.core.dtypes import BY_TENSORRT
from ltx_trt.core.errors import UserError
from ltx_trt.runtime.executors.tensorrt import Engine, TensorRTExecutor, check_binding, import_backend
from ltx_trt.runtime.progress import Progress

NO_GPU = "needs an NVIDIA GPU with CUDA (torch.cuda.is_available() is False on this machine)"
NO_TENSORRT = "needs the full TensorRT package `tensorrt` (pip install tensorrt-cu13 --extra-index-url ...)"
HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None
MISSING = NO_GPU if not torch.cuda.is_available() else "" if HAS_TENSORRT else NO_TENSORRT


def test_binding_check_names_every_mismatch():
    with pytest.raises(ValueError, match=r"shape \(3, 2\) != engine \(2, 3\); dtype torch.float32 != engine "
                                         r"torch.bfloat16; not a contiguous CUDA tensor"):
        check_binding("video_tokens", (2, 3), torch.bfloat16, torch.zeros(3, 2))
    with pytest.raises(ValueError, match="has no buffer"):
        check_binding("video_tokens", (2, 3), torch.bfloat16, None)


def test_unknown_or_missing_backend_is_a_user_error_with_the_install_command():
    with pytest.raises(UserError, match="unknown TensorRT backend"):
        import_backend("tensorrt_llm")
    if importlib.util.find_spec("tensorrt") is None:
        with pytest.raises(UserError, match="not installed") as err:
            import_backend("tensorrt")
        assert err.value.hint.startswith("pip install tensorrt")


@pytest.mark.skipif(importlib.util.find_spec("tensorrt_rtx") is None,
                    reason="needs tensorrt_rtx (pip install tensorrt-rtx)")
def test_no_shared_activation_buffer_without_the_builders_report(tmp_path):
    manifest = {"backend": {"name": "tensorrt_rtx"},
                "engines": {"a": {"file": "a.engine", "memory": {"activation_bytes": 10}}, "b": {"file": "b.engine"}}}
    executor = TensorRTExecutor(tmp_path, manifest)
    assert executor.reserve(["a", "b"]) == 0 and executor.scratch is None  # b's size is unknown: contexts own theirs
    executor.release(["a", "never loaded"])  # releasing what is not loaded is fine


@pytest.mark.skipif(importlib.util.find_spec("tensorrt_rtx") is None,
                    reason="needs tensorrt_rtx (pip install tensorrt-rtx)")
def test_every_tensorrt_dtype_the_graphs_use_has_a_torch_dtype():
    trt = import_backend("tensorrt_rtx")
    for name in ("FLOAT", "HALF", "BF16", "INT64", "INT32", "BOOL", "FP8", "INT8", "UINT8"):
        assert getattr(trt.DataType, name).name in BY_TENSORRT


@pytest.mark.gpu
@pytest.mark.skipif(bool(MISSING), reason=MISSING or "-")
def test_engine_writes_into_the_bound_buffers(tmp_path):
    trt = import_backend("tensorrt")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    x = network.add_input("x", trt.DataType.FLOAT, (2, 4))
    two = network.add_constant((1, 1), trt.Weights(torch.full((1, 1), 2.0).numpy())).get_output(0)
    y = network.add_elementwise(x, two, trt.ElementWiseOperation.PROD).get_output(0)
    y.name = "y"
    network.mark_output(y)
    serialized = builder.build_serialized_network(network, builder.create_builder_config())
    (tmp_path / "double.engine").write_bytes(bytes(serialized))
    engine = Engine(tmp_path / "double.engine", trt)
    x_buf, y_buf = torch.arange(8.0, device="cuda").reshape(2, 4), torch.zeros(2, 4, device="cuda")
    engine.bind({"x": x_buf, "y": y_buf})
    engine.enqueue(torch.cuda.current_stream().cuda_stream)
    torch.cuda.synchronize()
    assert torch.equal(y_buf, 2 * x_buf)
    with pytest.raises(ValueError, match="dtype"):
        engine.bind({"x": x_buf.bfloat16(), "y": y_buf})


class _FakeRtx:
    """Stands in for the `tensorrt_rtx` module where no GPU is: just the runtime-cache behaviour the executor relies
    on (a context compiles its engine's kernels unless the shared cache holds them). It checks our announcing,
    reuse and saving, not TensorRT-RTX; the real path needs an RTX GPU."""

    class Logger:
        WARNING = 2

        def __init__(self, level):
            pass

    ExecutionContextAllocationStrategy = types.SimpleNamespace(USER_MANAGED="user", STATIC="static")

    class Cache:
        def __init__(self):
            self.kernels = set()

        def deserialize(self, data):
            self.kernels |= set(json.loads(data))

        def serialize(self):
            return json.dumps(sorted(self.kernels)).encode()

    class Config:
        cache = None

        def create_runtime_cache(self):
            return _FakeRtx.Cache()

        def set_runtime_cache(self, cache):
            self.cache = cache

        def set_execution_context_allocation_strategy(self, strategy):
            pass

    class Engine:
        num_io_tensors, device_memory_size_v2 = 0, 0

        def __init__(self, name):
            self.name = name

        def create_runtime_config(self):
            return _FakeRtx.Config()

        def create_execution_context(self, config):
            if isinstance(config, str):  # an allocation strategy: no runtime config, nothing cached
                return object()
            config.cache.kernels.add(f"kernels of {self.name}" + "." * 4096)  # compiled, unless already there
            return object()

    class Runtime:
        def __init__(self, logger):
            pass

        def deserialize_cuda_engine(self, data):
            return _FakeRtx.Engine(data.decode())


def _rtx_folder(tmp_path):
    for name in ("a", "b"):
        (tmp_path / f"{name}.engine").write_bytes(name.encode())
    return {"backend": {"name": "tensorrt_rtx"}, "runtime_cache": "runtime-cache/sm{cc}.bin",
            "engines": {"a": {"file": "a.engine"}, "b": {"file": "b.engine"}}}


def _announced_loads(tmp_path, manifest, keys):
    lines = []
    executor = TensorRTExecutor(tmp_path, manifest, trt=_FakeRtx, capability=(8, 9))
    state = executor.kernels.state() if executor.kernels else None
    progress = Progress(lines.append)
    announce_kernels(executor, progress, lines.append)
    for key in keys:
        executor.load(key)
    return executor, state, lines, progress


def test_first_run_compiles_each_engine_as_a_stage_and_the_next_run_reuses_the_saved_cache(tmp_path):
    manifest = _rtx_folder(tmp_path)
    executor, state, lines, progress = _announced_loads(tmp_path, manifest, ["a", "b"])
    assert "none yet" in state and str(tmp_path / "runtime-cache" / "sm89.bin") in state
    assert lines[0] == "kernels (a) ..." and lines[1].startswith("  a: compiled, 4 KiB added")
    assert lines[2] == "kernels (b) ..." and "b: compiled" in lines[3]
    assert "kernels" in progress.seconds and progress.summary().startswith("done in")
    assert executor.save_runtime_cache() == (tmp_path / "runtime-cache" / "sm89.bin").stat().st_size > 8000
    assert not list((tmp_path / "runtime-cache").glob("*.partial"))

    _, state, lines, _ = _announced_loads(tmp_path, manifest, ["b"])
    assert state.startswith("TensorRT-RTX runtime cache reused") and "0.0 MiB" in state
    assert lines == ["kernels (b) ...", "  b: kernels read from the runtime cache"]
    other_gpu = TensorRTExecutor(tmp_path, manifest, trt=_FakeRtx, capability=(12, 0))
    assert "none yet" in other_gpu.kernels.state()  # another GPU kind has its own file


def test_an_engine_folder_without_a_runtime_cache_announces_no_kernel_stage(tmp_path):
    manifest = {k: v for k, v in _rtx_folder(tmp_path).items() if k != "runtime_cache"}  # full TensorRT
    executor, state, lines, progress = _announced_loads(tmp_path, manifest, ["a"])
    assert state is None and lines == [] and "kernels" not in progress.seconds
    assert executor.save_runtime_cache() == 0 and not (tmp_path / "runtime-cache").exists()
