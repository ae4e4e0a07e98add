"""The TensorRT engine binding: checks on the CPU; a real engine run where a GPU and TensorRT are."""

import importlib.util

import pytest
import torch

from ltx_trt.core.dtypes import BY_TENSORRT
from ltx_trt.core.errors import UserError
from ltx_trt.runtime.executors.tensorrt import Engine, TensorRTExecutor, check_binding, import_backend

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
