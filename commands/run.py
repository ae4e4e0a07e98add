"""`ltx-trt run`: check the request, pick and open an executor, generate, print the timing summary.

Everything the user can get wrong is refused (commands.request, commands.artifacts) before any model
work starts. Executors: `tensorrt` (the built engines, CUDA), `onnxruntime` (the exported ONNX; CPU,
or CUDA where that provider is installed), `torch` (the ltx-core modules from the model files); one
pipeline serves all three. Imports core, model, runtime and the other command modules.
"""

import dataclasses
from pathlib import Path
from typing import Callable

from ltx_trt.commands.choice import choose_executor
from ltx_trt.commands.opening import chained, model_files, open_executor
from ltx_trt.commands.pack import install_pack
from ltx_trt.commands.request import RunRequest, check_output
from ltx_trt.commands.verify import suggestion
from ltx_trt.core.errors import UserError
from ltx_trt.core.plan import GUIDED_BATCHES, physical, profile_graphs
from ltx_trt.runtime import devices, hq, sampling
from ltx_trt.runtime.guided import Guiders
from ltx_trt.runtime.pipeline import BucketGraphs, Guidance, generate, tokenize
from ltx_trt.runtime.progress import Progress


CAPTURABLE = ("tensorrt", "torch")  # executors whose step can be recorded in a CUDA graph (ONNX Runtime's cannot)


def run(request: RunRequest, log: Callable[[str], None] = print) -> Path:
    """Generate the clip of `request` into request.output; returns its path."""
    check_output(request.output)
    files = model_files(request.profile, request.source, request.artifacts)
    guiders = _guiders(request)
    batch = None if guiders is None else guided_batch(len(guiders.passes()))
    graphs = BucketGraphs.select(profile_graphs(request.profile, files.dims), request.bucket, batch,
                                 images=bool(request.images))
    kind, why = choose_executor(request.executor, request.profile, devices.cuda_gpu())
    log(f"executor: {kind} ({why})")
    if request.engines is not None:
        request = dataclasses.replace(request, pack=install_pack(request.engines, request.artifacts, request.profile,
                                                                 files.architecture, kind))
        log(f"engine pack {request.engines.name}: checksums, architecture, backend and GPU checked")
    b = request.bucket
    log(f"{b.width}x{b.height}, {b.frames} frames at {b.fps} fps (bucket {b.name} of {request.profile.name}), "
        f"seed {request.seed}")
    progress = Progress(log)
    with progress.stage("load", kind):
        opened = open_executor(kind, request, files, physical(graphs.all()))
        if kind == "tensorrt" and (note := suggestion(request.profile, request.source, request.artifacts)):
            log(note)  # engines `verify` has not passed yet
        progress.device = opened.device
        executor = chained(opened, request, files, graphs.all(), log)
        tokens = tokenize(request.source.gemma, request.prompt, log)
        guidance = None if guiders is None else _guidance(request, guiders, graphs, log)
    path = generate(tokens, request.seed, request.output, graphs=graphs, bucket=request.bucket, config=files.config,
                    executor=executor, device=opened.device, cuda_graphs=kind in CAPTURABLE, progress=progress,
                    guidance=guidance, images=request.images)
    if kind == "tensorrt":
        opened.executor.save_runtime_cache()  # TensorRT-RTX: the next run skips kernel compilation
    log(progress.summary(path))
    return path


def _guiders(request: RunRequest) -> Guiders | None:
    """The guided stage 1's guiders (None: the distilled pipeline)."""
    if request.pipeline == "distilled":
        return None
    return Guiders.of(request.video_guider, request.audio_guider)


def _guidance(request: RunRequest, guiders: Guiders, graphs: BucketGraphs, log: Callable[[str], None]) -> Guidance:
    """Two-stage: LTX2Scheduler's default-shift sigmas and Euler; hq: the sigmas shifted for the stage-1
    latent's token count (as TI2VidTwoStagesHQPipeline asks for them) and res_2s in both stages."""
    negative = tokenize(request.source.gemma, request.negative_prompt, log)
    if request.pipeline == "hq":
        return Guidance(guiders, negative, hq.stage1_sigma_values(request.steps, graphs.first.grid), "res2s")
    return Guidance(guiders, negative, sampling.scheduler_sigma_values(request.steps))


def guided_batch(passes: int) -> int:
    """The batch of the guided graph that runs `passes` guidance passes: the smallest one planned that holds
    them (unused rows repeat the conditional pass)."""
    return min(b for b in GUIDED_BATCHES if b >= passes)
