"""`ltx-trt run`: check the request, pick and open an executor, generate, print the timing summary.

Everything the user can get wrong (frames, size, bucket, output path, missing or stale artifacts, a GPU
the engines were not built for) is refused before any model work starts. Executors: `tensorrt` (the
built engines, CUDA), `onnxruntime` (the exported ONNX; CPU, or CUDA where that provider is
installed), `torch` (the ltx-core modules from the model files); one pipeline serves all three.
Imports torch and runtime at module level; model code, ONNX Runtime and TensorRT only when used.
"""

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ltx_trt.runtime import artifacts as stored
from ltx_trt.runtime import devices
from ltx_trt.runtime.errors import UserError
from ltx_trt.runtime.profiles import Bucket, Profile, available_profiles, load_profile
from ltx_trt.runtime.progress import Progress
from ltx_trt.runtime.source import TINY_ID, ModelSource

EXECUTORS = ("auto", "tensorrt", "onnxruntime", "torch")
DEFAULT_SEED = 10  # ltx_pipelines.utils.constants.PipelineParams.seed (a test keeps them equal)
TORCH_DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}
# Device memory kept free of weights for the executors' own activations when no builder report sizes
# them (torch, onnxruntime): 0.3-3.2 GB per block engine at full size (docs/BENCHMARKS.md).
ENGINE_SCRATCH_GIB = 2.0
DECODERS = ("video_decoder", "audio_decoder")  # they run after the transformer's weights are released


@dataclass(frozen=True)
class RunRequest:
    prompt: str
    profile: Profile
    source: ModelSource
    artifacts: Path
    bucket: Bucket
    seed: int
    executor: str  # one of EXECUTORS
    output: Path


def select_profile(name: str | None) -> Profile:
    """The named profile, or the one that fits this machine's GPU (compute capability and VRAM)."""
    if name is not None:
        return load_profile(name)
    gpu = devices.cuda_gpu()
    fitting = devices.fitting_profiles(gpu, [load_profile(n) for n in available_profiles()])
    if not fitting:
        found = f"{gpu.name}, compute capability {gpu.compute_capability}" if gpu else "no CUDA GPU"
        raise UserError(f"no --gpu given and no profile fits this machine ({found})",
                        f"pass --gpu PROFILE, one of: {', '.join(available_profiles())}")
    return max(fitting, key=lambda p: p.vram_gib)


def select_bucket(profile: Profile, width: int | None, height: int | None, frames: int | None) -> Bucket:
    """The profile's bucket for the asked size; what is not given comes from the profile's first bucket."""
    first = profile.buckets[0]
    width, height, frames = width or first.width, height or first.height, frames or first.frames
    if frames % 8 != 1:
        below = 8 * ((frames - 1) // 8) + 1
        raise UserError(f"--frames {frames} is not 8k+1 (the video VAE compresses time by 8, plus the first frame)",
                        f"use e.g. {below} or {below + 8}")
    for flag, value in (("--width", width), ("--height", height)):
        if value % 64:
            raise UserError(f"{flag} {value} is not a multiple of 64 (stage 1 runs at half size on 32-pixel latents)",
                            f"use e.g. {64 * max(1, round(value / 64))}")
    return profile.bucket(width, height, frames)


def with_resident_gib(profile: Profile, resident_gib: float | None) -> Profile:
    """The profile with another GPU memory budget for the run (None: the profile's own)."""
    if resident_gib is None:
        return profile
    return dataclasses.replace(profile, memory=dataclasses.replace(profile.memory, resident_gib=resident_gib))


def check_output(path: Path) -> None:
    """Refuse an output path that cannot be written, before any work (the file appears only when complete)."""
    path = Path(path)
    hint = "pass --output with a file name in a writable folder"
    if path.is_dir():
        raise UserError(f"output path {path} is a folder", hint)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"cannot write {path}: folder {folder} does not exist", hint)
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UserError(f"cannot write {path}: permission denied", hint)


def choose_executor(requested: str, profile: Profile, gpu: devices.Gpu | None) -> tuple[str, str]:
    """(executor, why): `auto` is tensorrt on a GPU the profile's engines target with the backend installed."""
    if requested != "auto":
        return requested, "--executor " + requested
    if gpu is None:
        return "onnxruntime", "auto: no CUDA GPU here, torch.cuda.is_available() is False"
    if gpu.compute_capability not in profile.compute_capabilities:
        return "onnxruntime", (f"auto: {gpu.name} (compute capability {gpu.compute_capability}) is not a target of "
                               f"the {profile.name} engines ({', '.join(profile.compute_capabilities)})")
    if devices.backend_version(profile.backend) is None:
        return "onnxruntime", f"auto: {profile.backend} is not installed, so the engines cannot run"
    return "tensorrt", f"auto: {gpu.name} (compute capability {gpu.compute_capability}) runs the {profile.name} engines"


def run(request: RunRequest, log: Callable[[str], None] = print) -> Path:
    """Generate the clip of `request` into request.output; returns its path."""
    from ltx_trt.runtime.pipeline import BucketGraphs, generate, tokenize
    from ltx_trt.runtime.plan import physical, profile_graphs

    check_output(request.output)
    files = _model_files(request)
    graphs = BucketGraphs.select(profile_graphs(request.profile, files.dims), request.bucket)
    kind, why = choose_executor(request.executor, request.profile, devices.cuda_gpu())
    log(f"executor: {kind} ({why})")
    b = request.bucket
    log(f"{b.width}x{b.height}, {b.frames} frames at {b.fps} fps (bucket {b.name} of {request.profile.name}), "
        f"seed {request.seed}")
    opener = {"tensorrt": _tensorrt, "onnxruntime": _onnxruntime, "torch": _torch}[kind]
    progress = Progress(log)
    with progress.stage("load", kind):
        inner, device = opener(request, files, physical(graphs.all()))
        progress.device = device
        executor = _chain(inner, request.profile, files, graphs.all(), device, log)
        tokens = tokenize(request.source.gemma, request.prompt, log)
    path = generate(tokens, request.seed, request.output, graphs=graphs, bucket=request.bucket, config=files.config,
                    executor=executor, device=device, cuda_graphs=kind == "tensorrt", progress=progress)
    if kind == "tensorrt":
        inner.save_runtime_cache()  # TensorRT-RTX: the next run skips kernel compilation
    log(progress.summary(path))
    return path


def _chain(inner, profile: Profile, files, graphs, device: torch.device, log):
    """The text encoder's and the transformer's chains over `inner`, their weights resident or streamed
    per the profile (each packed on first use and dropped after its stage)."""
    from ltx_trt.model.text_parts import folder_reader, text_chain
    from ltx_trt.model.transformer_parts import block_chain, checkpoint_reader

    dims = files.dims
    scratch = getattr(inner, "scratch", None)  # TensorRT: the shared activation buffer, already allocated
    budget = weight_budget(profile, graphs, scratch.numel() if scratch is not None else None) \
        if device.type == "cuda" else None
    transformer = block_chain(inner, graphs, dims.transformer, checkpoint_reader(files.checkpoint),
                              TORCH_DTYPES[profile.precision["transformer"]], device, budget, log)
    text = next(g for g in graphs if g.component == "text_encoder")
    dtype = TORCH_DTYPES[profile.precision["text_encoder"]]
    return text_chain(transformer, text, dims.text_encoder, dims.sliding_layers, folder_reader(files.source.gemma, dtype),
                      dtype, device, budget, log)


def weight_budget(profile: Profile, graphs, scratch_bytes: int | None = None) -> int | None:
    """Device bytes the text encoder's or the transformer's weights may take: the profile's resident_gib
    minus the run's I/O buffers (runtime.chain's included) and the executor's activation memory
    (`scratch_bytes`, else ENGINE_SCRATCH_GIB); None (all resident) without weight streaming."""
    if not profile.memory.weight_streaming:
        return None
    scratch = scratch_bytes if scratch_bytes is not None else int(ENGINE_SCRATCH_GIB * 2**30)
    return int(profile.memory.resident_gib * 2**30) - scratch - buffer_bytes(graphs)


def buffer_bytes(graphs) -> int:
    """Bytes of the I/O buffers a run allocates: each graph's inputs and outputs, plus for a chained
    transformer the pre part's outputs and a second pair of hidden states (runtime/chain.py)."""
    total = 0
    for g in graphs:
        total += sum(s.nbytes for s in (*g.inputs, *g.outputs))
        if g.parts:
            carried = g.parts[0].outputs
            total += sum(s.nbytes for s in carried) + sum(s.nbytes for s in carried if s.name.endswith("_hidden"))
    return total


def _model_files(request: RunRequest):
    """The model's opened files (configs and dims; weights stay memory-mapped and unread)."""
    if request.source.model_id == TINY_ID and not request.source.checkpoint.is_file():
        raise UserError(f"the tiny model is not generated yet ({request.source.checkpoint.parent} is empty)",
                        f"run: {stored.export_command(request.profile.name, request.source, request.artifacts)}")
    from ltx_trt.model.files import ModelFiles

    return ModelFiles(request.source)


def _tensorrt(request: RunRequest, files, graphs):
    from ltx_trt.runtime.executors.tensorrt import TensorRTExecutor

    engines = stored.check_engines(request.artifacts, request.source, request.profile,
                                   files.checkpoint.header.fingerprint, graphs)
    gpu = devices.cuda_gpu()
    if gpu is None:
        raise UserError("the tensorrt executor needs an NVIDIA GPU, and torch finds no CUDA device",
                        "run on the GPU the profile names, or pass --executor onnxruntime")
    stored.check_compute_capability(engines.manifest, gpu.name, gpu.compute_capability, request.profile)
    executor = TensorRTExecutor(engines.folder, engines.manifest, engines.fix)
    # one activation buffer for the engines that run beside the weights (they run in turn); the decoders
    # load after the transformer's weights are released and keep their own (10.5 GB at 1280x704)
    executor.reserve([g.key for g in graphs if g.component not in DECODERS])
    return executor, torch.device("cuda")


def _onnxruntime(request: RunRequest, files, graphs):
    from ltx_trt.runtime.executors.onnxruntime import CPU, OnnxRuntimeExecutor

    export = stored.check_onnx(request.artifacts, request.source, request.profile,
                               files.checkpoint.header.fingerprint, graphs)
    if "CUDAExecutionProvider" in devices.onnxruntime_providers() and torch.cuda.is_available():
        return OnnxRuntimeExecutor(export.folder, export.manifest, ("CUDAExecutionProvider", CPU), export.fix), \
            torch.device("cuda")
    return OnnxRuntimeExecutor(export.folder, export.manifest, (CPU,), export.fix), torch.device("cpu")


def _torch(request: RunRequest, files, graphs):
    """ltx-core's modules, built once per component from the model files, wrapped once per graph. A
    component whose graphs take their weights as inputs gets its skeleton (runtime/chain.py binds them)."""
    from ltx_trt.model.graph_modules import component_model
    from ltx_trt.runtime.executors.pytorch import TorchExecutor

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    modules = {}
    for component in dict.fromkeys(g.component for g in graphs):
        model = component_model(component)
        dtype = TORCH_DTYPES[request.profile.precision[component]]
        if model.skeleton is not None:
            module = _buffers_to(model.skeleton(files, dtype), device)
        else:
            module = model.build(files, dtype).to(device)
        for graph in (g for g in graphs if g.component == component):
            modules[graph.key] = model.wrap(module, graph).eval()
    return TorchExecutor(modules), device


def _buffers_to(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Move a skeleton's computed buffers to `device` (`.to()` refuses its meta parameters)."""
    for child in module.modules():
        for name, buffer in child._buffers.items():
            if buffer is not None:
                child._buffers[name] = buffer.to(device)
    return module
