"""The ONNX Runtime executor: runs the exported ONNX files (CPU in CI, CUDA where onnxruntime-gpu is).

Loads `<onnx dir>/<graph key>.onnx` as listed in the export manifest ({"graphs": {key: {"file",
"inputs", "outputs", "precision", ...}}}) on first use, and binds the caller's torch buffers with
IOBinding, so results land in them without copies. ORT's CPU provider has no bf16 kernels: a bf16
graph is converted to fp32 in memory (executors.fp32_onnx) and cast at the boundary through fp32
staging buffers allocated once. Imports onnx/onnxruntime lazily (constructing the executor).
"""

from pathlib import Path

import torch

from ltx_trt.core.dtypes import DTYPES
from ltx_trt.core.plan import ACTIVATIONS
from ltx_trt.core.errors import UserError
from ltx_trt.core.trust import confined, load_onnx

CPU = "CPUExecutionProvider"
PACKED = {"tensor(int4)": "int4", "tensor(float4e2m1)": "float4_e2m1"}  # ORT's type names of 4-bit inputs


class OnnxRuntimeExecutor:
    """Owns one ONNX Runtime session per graph key, created on first use."""

    def __init__(self, onnx_dir: Path, manifest: dict, providers: tuple[str, ...] = (CPU,), fix: str = "") -> None:
        self.onnx_dir = Path(onnx_dir)
        self.entries = manifest.get("graphs", {})
        self.providers = tuple(providers)
        self.fix = fix or "ltx-trt export (for this --gpu and model)"
        self._sessions: dict[str, _Session] = {}

    def run(self, graph_key: str, inputs: dict[str, torch.Tensor], outputs: dict[str, torch.Tensor]) -> None:
        if graph_key not in self._sessions:
            self._sessions[graph_key] = self._load(graph_key)
        self._sessions[graph_key].run(inputs, outputs)

    def release(self, graph_keys: list[str]) -> None:
        """Drop these sessions; a later run() of one creates it again."""
        for key in graph_keys:
            self._sessions.pop(key, None)

    def _load(self, graph_key: str) -> "_Session":
        entry = self.entries.get(graph_key)
        if not isinstance(entry, dict):
            raise UserError(f"the ONNX export in {self.onnx_dir} has no graph {graph_key!r}", f"run: {self.fix}")
        where = f"the ONNX manifest of {self.onnx_dir}"
        path = confined(self.onnx_dir, entry.get("file"), where, self.fix)
        if not path.is_file():
            raise UserError(f"ONNX file missing: {path}", f"run: {self.fix}")
        listed = {item.get("file") for item in entry.get("data_files", []) if isinstance(item, dict)}
        model, external = load_onnx(path, where, self.fix, listed)  # every data file confined and listed
        as_fp32 = ACTIVATIONS.get(entry.get("precision")) == "bfloat16" and self.providers[0] == CPU
        return _Session(_fp32_model_bytes(path, model, external) if as_fp32 else str(path), self.providers, as_fp32)


class _Session:
    """One InferenceSession, its IOBinding and (for bf16 graphs run as fp32) its staging buffers."""

    def __init__(self, model: str | bytes, providers: tuple[str, ...], as_fp32: bool) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # warnings about unused initializers etc. are not the user's
        self.session = onnxruntime.InferenceSession(model, options, providers=list(providers))
        self.as_fp32 = as_fp32
        self.staging: dict[str, torch.Tensor] = {}
        self.binding = None
        self.bound: tuple = ()

    def run(self, inputs: dict[str, torch.Tensor], outputs: dict[str, torch.Tensor]) -> None:
        self._check_names(inputs, outputs)
        feeds = {name: self._staged(name, t) for name, t in inputs.items()}
        results = {name: self._staged(name, t) for name, t in outputs.items()}
        for name, tensor in inputs.items():
            if feeds[name] is not tensor:
                feeds[name].copy_(tensor)
        key = tuple((n, t.data_ptr()) for n, t in (*feeds.items(), *results.items()))
        if key != self.bound:
            self.binding, self.bound = self._bind(feeds, results), key
        if any(t.is_cuda for t in feeds.values()):
            torch.cuda.current_stream().synchronize()  # ORT runs on its own stream
        self.session.run_with_iobinding(self.binding)
        self.binding.synchronize_outputs()
        for name, tensor in outputs.items():
            if results[name] is not tensor:
                tensor.copy_(results[name])

    def _staged(self, name: str, tensor: torch.Tensor) -> torch.Tensor:
        """The tensor ORT sees: the caller's own, or (bf16 run as fp32) an fp32 twin allocated once."""
        if not (self.as_fp32 and tensor.dtype == torch.bfloat16):
            return tensor
        if name not in self.staging or self.staging[name].shape != tensor.shape:
            self.staging[name] = torch.empty(tensor.shape, dtype=torch.float32, device=tensor.device)
        return self.staging[name]

    def _bind(self, feeds: dict[str, torch.Tensor], results: dict[str, torch.Tensor]):
        binding = self.session.io_binding()
        packed = {i.name: PACKED[i.type] for i in self.session.get_inputs() if i.type in PACKED}
        for name, tensor in feeds.items():
            binding.bind_input(name, *_placement(name, tensor, packed.get(name)))
        for name, tensor in results.items():
            binding.bind_output(name, *_placement(name, tensor))
        return binding

    def _check_names(self, inputs: dict, outputs: dict) -> None:
        expected = ({i.name for i in self.session.get_inputs()}, {o.name for o in self.session.get_outputs()})
        if (set(inputs), set(outputs)) != expected:
            raise ValueError(f"buffers {sorted(inputs)} -> {sorted(outputs)} do not match the ONNX graph's "
                             f"{sorted(expected[0])} -> {sorted(expected[1])}")


def _placement(name: str, tensor: torch.Tensor, packed: str | None = None) -> tuple:
    """IOBinding arguments after the name: device type, device id, element type, shape, address. A packed
    4-bit input (`packed`: its dtype name) is a uint8 buffer of half the last dimension (core.dtypes)."""
    if not tensor.is_contiguous():
        raise ValueError(f"buffer {name} must be contiguous to be bound by address")
    device_type = "cuda" if tensor.is_cuda else "cpu"
    device_id = tensor.device.index or 0
    dtype, shape = DTYPES[packed or str(tensor.dtype).removeprefix("torch.")], list(tensor.shape)
    if packed:
        shape[-1] *= 2
    return device_type, device_id, dtype.onnx, shape, tensor.data_ptr()


def _fp32_model_bytes(path: Path, model, external: list) -> bytes:
    """The bf16 graph at `path` with its (checked) external data, converted to fp32 and serialised (< 2 GB)."""
    from ltx_trt.runtime.executors.fp32_onnx import bf16_to_fp32, inline_external

    inline_external(external)
    model = bf16_to_fp32(model)
    if model.ByteSize() >= 2**31:
        raise UserError(f"{path.name} is over 2 GB in fp32; ONNX Runtime on CPU cannot run it in memory",
                        "use the tensorrt executor on a GPU, or an fp32 profile for this component")
    return model.SerializeToString()
