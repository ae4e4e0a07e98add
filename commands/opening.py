"""Opening the executor a run uses, over the model's files and the artifacts, and chaining the text
encoder and the transformer over it with their weights resident or streamed.

tensorrt: the built engines (checked current, for this GPU); onnxruntime: the exported ONNX (CPU, or
CUDA where that provider is installed); torch: ltx-core's modules built from the model files. The
chains read weights through the model's readers (checkpoint, Gemma folder). Imports core, model,
runtime; ONNX Runtime and TensorRT only inside their openers.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ltx_trt.commands import artifacts as stored
from ltx_trt.commands.memory import weight_budget
from ltx_trt.commands.request import RunRequest
from ltx_trt.core.calibration import FORMATS_WITH_INPUT_SCALES, calibration_dir, check_calibration
from ltx_trt.core.dtypes import torch_dtype
from ltx_trt.core.errors import UserError
from ltx_trt.core.pipelines import GUIDED, LoraSpec
from ltx_trt.core.plan import ACTIVATIONS, Graph
from ltx_trt.core.source import TINY_ID, calibrate_command, compile_cache_dir, export_command
from ltx_trt.model.files import ModelFiles
from ltx_trt.model.lora import lora_reader
from ltx_trt.model.quantized_weights import amax_reader, graph_reader
from ltx_trt.model.text_parts import folder_reader
from ltx_trt.model.transformer_parts import checkpoint_reader
from ltx_trt.model.weight_inputs import state_reader
from ltx_trt.runtime import devices
from ltx_trt.runtime.chain import block_chain, text_chain
from ltx_trt.runtime.weight_inputs import bound_weights

DECODERS = ("video_decoder", "audio_decoder")  # they run after the transformer's weights are released


@dataclass(frozen=True)
class Opened:
    executor: object  # runtime.executors.Executor
    device: torch.device
    activation_bytes: int | None  # device memory the executor reserved for activations (None: unknown)


def model_files(profile, source, artifacts) -> ModelFiles:
    """The model's opened files (configs and dims; weights stay memory-mapped and unread); the tiny model
    must have been generated (by export) first."""
    if source.model_id == TINY_ID and not source.checkpoint.is_file():
        raise UserError(f"the tiny model is not generated yet ({source.checkpoint.parent} is empty)",
                        f"run: {export_command(profile.flags, source.model_id, None, artifacts)}")
    return ModelFiles(source)


def open_executor(kind: str, request, files: ModelFiles, graphs: list[Graph]) -> Opened:
    """The executor of `kind` for the physical `graphs` of a run (request: commands.request.RunRequest), once
    the files the chained models read are checked (every executor binds their weights from the files)."""
    files.check_chained()
    return {"tensorrt": _tensorrt, "onnxruntime": _onnxruntime, "torch": _torch}[kind](request, files, graphs)


def chained(opened: Opened, request: RunRequest, files: ModelFiles, graphs: list[Graph], log: Callable[[str], None]):
    """The text encoder's and the transformer's chains over the opened executor (and the one-graph components'
    weights bound as their graphs' inputs, runtime/weight_inputs.py), their weights in the
    graphs' layout (quantized at pack time where the file is plain; LoRAs merged before that), resident or
    streamed per the profile (each packed on first use and dropped after its stage). Each set of weights a
    stage runs on (the distilled LoRA's strength differs per stage) gets a chain of its own, stacked."""
    device = opened.device
    budget = weight_budget(request.profile, graphs, opened.activation_bytes) if device.type == "cuda" else None
    transformers = [g for g in graphs if g.component == "transformer"]
    layout = next(g.weights for g in transformers if g.weights is not None)
    dtype = torch_dtype(ACTIVATIONS[request.profile.precision["transformer"]])
    executor = opened.executor
    for stage_graphs, loras in _weight_sets(request, transformers):
        read = _merged_reader(files, loras, dtype, device, log)
        read = graph_reader(read, layout, files.stored_quantization, dtype, _input_amax(request, files, layout))
        executor = block_chain(executor, stage_graphs, layout, read, dtype, device, budget, log)
    text = next(g for g in graphs if g.component == "text_encoder")
    dtype = torch_dtype(ACTIVATIONS[request.profile.precision["text_encoder"]])
    read = graph_reader(folder_reader(files, dtype), text.weights, None, dtype)
    executor = text_chain(executor, text, text.weights, files.dims.sliding_layers, read, dtype, device, budget, log)
    return bound_weights(executor, graphs, state_reader(files, request.profile.precision), device)


def _weight_sets(request: RunRequest, transformers: list[Graph]) -> list[tuple[list[Graph], tuple[LoraSpec, ...]]]:
    """(transformer graphs, the LoRAs merged into the weights they run on), one entry per set of weights:
    the distilled pipeline runs both stages on the user's LoRAs; the dev pipelines' stage 1 adds the
    distilled LoRA at its stage-1 strength (hq) or not at all (two-stage), stage 2 at its stage-2 strength."""
    loras = tuple(request.loras)
    if request.pipeline not in GUIDED:
        return [(transformers, loras)]
    first, second = request.distilled_lora_strengths
    distilled = lambda strength: () if strength is None else (LoraSpec(request.distilled_lora, strength),)  # noqa: E731
    stage2 = [g for g in transformers if g.variant.endswith(".stage2")]
    stage1 = [g for g in transformers if g not in stage2]
    return [(stage1, loras + distilled(first)), (stage2, loras + distilled(second))]


def _merged_reader(files: ModelFiles, loras: tuple[LoraSpec, ...], dtype, device, log) -> Callable:
    """The checkpoint's transformer reader, with `loras` merged into the weights it returns (ltx-core's
    apply_loras, on the run's device), reported once the weights are packed."""
    read = checkpoint_reader(files.checkpoint)
    if not loras:
        return read
    merge = lora_reader(read, list(loras), files.dims.transformer, files.stored_quantization, dtype=dtype,
                        device=device)

    reported = False

    def reading(part: str, block: int, name: str):
        nonlocal reported
        weight = merge(part, block, name)
        if not reported and len(merge.merged) == len(merge.targets):
            reported = True
            log(merge.report())
        return weight

    return reading


def _input_amax(request, files: ModelFiles, layout) -> Callable | None:
    """The calibrated activation maxima, where the graphs need static input scales the file does not have."""
    wanted, stored = layout.quantization, files.stored_quantization
    if wanted is None or wanted.format not in FORMATS_WITH_INPUT_SCALES or (stored and stored.format == wanted.format):
        return None
    src = request.source
    # a calibration is the model's (bf16 activations), whatever the profile's overrides or keyframes: plain name
    fix = calibrate_command(request.profile.name, src.model_id, src.checkpoint, request.artifacts, src.gemma)
    return amax_reader(check_calibration(calibration_dir(request.artifacts, src.model_id),
                                         files.checkpoint.header.fingerprint, fix))


def _tensorrt(request, files: ModelFiles, graphs: list[Graph]) -> Opened:
    from ltx_trt.runtime.executors.tensorrt import TensorRTExecutor

    engines = stored.check_engines(request.artifacts, request.source, request.profile,
                                   files.checkpoint.header.fingerprint, graphs, request.pack)
    gpu = devices.cuda_gpu()
    if gpu is None:
        raise UserError("the tensorrt executor needs an NVIDIA GPU, and torch finds no CUDA device",
                        "run on the GPU the profile names, or pass --executor onnxruntime")
    stored.check_compute_capability(engines.manifest, gpu.name, gpu.compute_capability, request.profile)
    executor = TensorRTExecutor(engines.folder, engines.manifest, engines.fix)
    # one activation buffer for the engines that run beside the weights (they run in turn); the decoders
    # load after the transformer's weights are released and keep their own (10.5 GB at 1280x704)
    reserved = executor.reserve([g.key for g in graphs if g.component not in DECODERS])
    return Opened(executor, torch.device("cuda"), reserved or None)


def _onnxruntime(request, files: ModelFiles, graphs: list[Graph]) -> Opened:
    from ltx_trt.runtime.executors.onnxruntime import CPU, OnnxRuntimeExecutor

    export = stored.check_onnx(request.artifacts, request.source, request.profile,
                               files.checkpoint.header.fingerprint, graphs, request.pack)
    if "CUDAExecutionProvider" in devices.onnxruntime_providers() and torch.cuda.is_available():
        providers, device = ("CUDAExecutionProvider", CPU), torch.device("cuda")
    else:
        providers, device = (CPU,), torch.device("cpu")
    return Opened(OnnxRuntimeExecutor(export.folder, export.manifest, providers, export.fix), device, None)


def _torch(request, files: ModelFiles, graphs: list[Graph]) -> Opened:
    """ltx-core's modules, built once per component from the model files, wrapped once per graph. A
    component whose graphs take their weights as inputs gets its skeleton (runtime/chain.py binds them)."""
    from ltx_trt.model.graph_modules import component_model
    from ltx_trt.runtime.executors.pytorch import TorchExecutor

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    modules = {}
    for component in dict.fromkeys(g.component for g in graphs):
        model = component_model(component)
        dtype = torch_dtype(ACTIVATIONS[request.profile.precision[component]])
        if model.skeleton is not None:
            module = _buffers_to(model.skeleton(files, dtype), device)
        else:
            module = model.build(files, dtype).to(device)
        for graph in (g for g in graphs if g.component == component):
            modules[graph.key] = model.wrap(module, graph).eval()
            if device.type == "cuda" and _compiles(request.compile, graph):
                keep_compiled_kernels(compile_cache_dir(request.artifacts, request.source.model_id))
                modules[graph.key].compile()  # compiled on its first call, outside any CUDA-graph capture
    return Opened(TorchExecutor(modules), device, None)


def _compiles(choice: str, graph: Graph) -> bool:
    """Whether a graph runs through torch.compile: block graphs, all of them ("on") or those that quantize
    activations ("auto": unfused, FP8's activation quantization is slower than bf16; fused, the FP8 step is
    1.4-1.7x faster, docs/BENCHMARKS.md), so that bf16 blocks stay op for op the official pipeline's math."""
    part = graph.variant.rsplit(".", 1)[-1]
    quantizes_activations = part.removeprefix("block_") in FORMATS_WITH_INPUT_SCALES
    return part.startswith("block") and (choice == "on" or (choice == "auto" and quantizes_activations))


def keep_compiled_kernels(folder: Path) -> None:
    """Point TorchInductor's on-disk caches (FX graphs, autotuning, kernels) at a folder beside the
    artifacts, so that a later run loads the compiled block graphs instead of compiling them again (the
    default, under /tmp, does not survive a reboot); a cache the user chose is left alone."""
    if "TORCHINDUCTOR_CACHE_DIR" not in os.environ:
        folder.mkdir(parents=True, exist_ok=True)
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(folder)


def _buffers_to(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Move a skeleton's computed buffers to `device` (`.to()` refuses its meta parameters)."""
    for child in module.modules():
        for name, buffer in child._buffers.items():
            if buffer is not None:
                child._buffers[name] = buffer.to(device)
    return module
