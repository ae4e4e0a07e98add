"""A pipeline opened once and run for any number of clips: the one entry point of `run`, `run --prompts`,
`serve` and the Python API (ltx_trt.api).

Opening picks the executor and opens it for the graphs the pipeline may run (every bucket and pipeline
of the profile for the API; one request's graphs for a single `run`). Each clip then builds its text and
transformer chains over that executor and runs runtime.pipeline.generate with `release=True`, so a clip
holds at most what one `run` holds; the transformer's packed weights stay for the next clip where they fit
(commands/keep.py). What stays between clips and what is packed again is KEPT (by executor), KeptWeights and
docs/DESIGN.md "Load once, generate many". Imports core, model (through commands) and runtime.
"""

import dataclasses
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from ltx_trt.commands.choice import choose_executor
from ltx_trt.commands.keep import KeptWeights, keep_check, weight_key
from ltx_trt.commands.opening import chained, model_files, open_executor
from ltx_trt.commands.pack import install_pack
from ltx_trt.commands.request import RunRequest, check_output
from ltx_trt.commands.verify import suggestion
from ltx_trt.core.conditioning import appended_keyframes
from ltx_trt.core.errors import UserError
from ltx_trt.core.plan import GUIDED_BATCHES, Graph, physical, profile_graphs
from ltx_trt.core.profiles import Profile
from ltx_trt.core.source import ModelSource
from ltx_trt.model.files import ModelFiles
from ltx_trt.runtime import devices, hq, sampling
from ltx_trt.runtime.chain import BlockChain, TextChain
from ltx_trt.runtime.guided import Guiders
from ltx_trt.runtime.pipeline import BucketGraphs, Guidance, generate, tokenize
from ltx_trt.runtime.progress import Progress
from ltx_trt.runtime.weight_inputs import BoundWeights

CAPTURABLE = ("tensorrt", "torch")  # executors whose step can be recorded in a CUDA graph (ONNX Runtime's cannot)
# What the opened executor keeps between clips when a clip releases a graph. torch: its modules (built once
# from the model files, the expensive part of opening; the chained components' are weightless skeletons,
# and a clip's first stage already holds all of them). onnxruntime, tensorrt: nothing; a released session
# or engine is loaded again by the next clip that runs it (TensorRT-RTX's kernels from its runtime cache).
KEPT = {"torch": "modules", "onnxruntime": "nothing", "tensorrt": "nothing"}


class Session:
    """An executor opened once over a profile's model files; `run(request)` renders one clip."""

    def __init__(self, profile: Profile, source: ModelSource, artifacts: Path, executor: str = "auto",
                 compile: str = "auto", only: RunRequest | None = None,
                 log: Callable[[str], None] = print, engines: Path | None = None) -> None:
        """Open the executor for every graph of the profile, or (`only`) for the graphs of that one request;
        `engines`: an engine pack (`run --engines`) to run instead of the artifacts folder's own export."""
        self.profile, self.source, self.artifacts, self.log = profile, source, Path(artifacts), log
        self.files = model_files(profile, source, artifacts)
        self.kind, why = choose_executor(executor, profile, devices.cuda_gpu())
        log(f"executor: {self.kind} ({why})")
        self.pack = None if engines is None else install_pack(engines, self.artifacts, profile,
                                                               self.files.architecture, self.kind)
        if engines is not None:
            log(f"engine pack {Path(engines).name}: checksums, architecture, backend and GPU checked")
        planned = physical(request_graphs(only, self.files) if only else profile_graphs(profile, self.files.dims))
        self.keys = {g.key for g in planned}
        self.base = RunRequest("", profile, source, self.artifacts, profile.buckets[0], 0, executor, Path("out.mp4"),
                               compile, engines=engines, pack=self.pack)
        progress = Progress(log)
        with progress.stage("open", self.kind):
            opened = open_executor(self.kind, self.base, self.files, planned)
            if self.kind == "tensorrt" and (note := suggestion(profile, source, self.artifacts, engines, self.pack)):
                log(note)  # engines `verify` has not passed yet
            if getattr(opened.executor, "kernels", None) is not None:
                log(opened.executor.kernels.state())  # TensorRT-RTX: reused, or compiled by this run
        self.opened = dataclasses.replace(opened, executor=_Keeping(opened.executor, KEPT[self.kind] == "modules"))
        self._pending = progress.seconds  # the one-time opening, shown in the first clip's summary
        self.clips = 0
        # the transformer's weights between clips, where they fit (commands/keep.py); a single `run` has no next clip
        self.kept = KeptWeights(log) if only is None else None

    def run(self, request: RunRequest, progress: Progress | None = None) -> Path:
        """Render `request` (this session's profile, model and artifacts) into request.output; returns its path."""
        check_output(request.output)
        self._check_same(request)
        request = dataclasses.replace(request, pack=self.pack)
        guiders, graphs = _guiders(request), _bucket_graphs(request, self.files)
        missing = [g.key for g in physical(graphs.all()) if g.key not in self.keys]
        if missing:
            raise UserError(f"this pipeline was opened without the graph {missing[0]}",
                            "open it for the whole profile (ltx_trt.api.open_pipeline) to vary size and pipeline")
        log, b = self.log, request.bucket
        log(f"{b.width}x{b.height}, {b.frames} frames at {b.fps} fps (bucket {b.name} of {request.profile.name}), "
            f"seed {request.seed}")
        progress = progress or Progress(log)
        progress.device = self.opened.device
        progress.seconds.update(self._pending)
        self._pending = {}
        with progress.stage("load", self.kind if self.clips == 0 else f"{self.kind}, clip {self.clips + 1}"):
            executor = chained(self.opened, request, self.files, graphs.all(), log)
            announce_packing(executor, progress)
            if self.kept is not None:
                self.kept.lend(executor, weight_key(request, graphs), keep_check(request, graphs, self.opened))
            announce_kernels(self.opened.executor.inner, progress, log)
            tokens = tokenize(request.source.gemma, request.prompt, log)
            guidance = None if guiders is None else _guidance(request, guiders, graphs, log)
        self.clips += 1
        path = generate(tokens, request.seed, request.output, graphs=graphs, bucket=request.bucket,
                        config=self.files.config, executor=executor, device=self.opened.device,
                        cuda_graphs=self.kind in CAPTURABLE, progress=progress, guidance=guidance,
                        images=request.images)
        if self.kind == "tensorrt" and (saved := self.opened.executor.inner.save_runtime_cache()):
            log(f"TensorRT-RTX runtime cache saved ({saved / 2**20:.1f} MiB): later clips and runs read these kernels")
        log(progress.summary(path))
        return path

    def close(self) -> None:
        """Let go of the executor (engines, sessions, modules) and the kept weights; no clip runs after this."""
        if self.kept is not None:
            self.kept.drop()
        self.opened = None
        if devices.cuda_gpu() is not None:
            import torch

            torch.cuda.empty_cache()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _check_same(self, request: RunRequest) -> None:
        if self.opened is None:
            raise UserError("this pipeline is closed", "open another one")
        if (request.profile, request.source, Path(request.artifacts), request.compile) != \
                (self.profile, self.source, self.artifacts, self.base.compile):
            raise UserError("the request names another profile, model or artifacts folder than the pipeline's",
                            "open a pipeline for them")


class _Keeping:
    """The opened executor as the chains see it: with `keep`, released graphs stay loaded for the next clip."""

    def __init__(self, inner, keep: bool) -> None:
        self.inner, self.keep = inner, keep

    def run(self, graph_key: str, inputs, outputs) -> None:
        self.inner.run(graph_key, inputs, outputs)

    def release(self, graph_keys: list[str]) -> None:
        if not self.keep:
            self.inner.release(graph_keys)


def announce_packing(chain, progress: Progress) -> None:
    """Make each chain's weight packing (done on its first run, inside the stage that runs it: text, stage 1,
    stage 2 for the dev pipelines) a stage of its own, announced and timed: "pack"."""
    while isinstance(chain, (TextChain, BlockChain, BoundWeights)):  # the chains, under the bound weights
        if not isinstance(chain, BoundWeights):
            what = "text encoder" if isinstance(chain, TextChain) else "transformer"
            chain.make_store = _timed(chain.make_store, progress, f"{what} weights")
        chain = chain.inner


def announce_kernels(executor, progress: Progress, log: Callable[[str], None]) -> None:
    """Make each TensorRT-RTX engine's load, where its kernels are compiled for this GPU (or read from the runtime
    cache), a stage of its own, announced and timed: "kernels"; a line after it says which of the two it was."""
    kernels = getattr(executor, "kernels", None)
    if kernels is None:  # not TensorRT-RTX: nothing is compiled at load
        return

    @contextmanager
    def loading(graph_key: str):
        with progress.stage("kernels", graph_key):
            yield
        grown = kernels.grown()
        log(f"  {graph_key}: " + (f"compiled, {grown / 2**10:.0f} KiB added to the runtime cache" if grown > 0
                                  else "kernels read from the runtime cache"))

    executor.loading = loading


def _timed(make: Callable, progress: Progress, detail: str) -> Callable:
    def packing():
        with progress.stage("pack", detail):
            return make()

    return packing


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


def request_graphs(request: RunRequest, files: ModelFiles) -> list[Graph]:
    """The logical graphs one request runs (what a single `run` opens)."""
    return _bucket_graphs(request, files).all()


def _bucket_graphs(request: RunRequest, files: ModelFiles) -> BucketGraphs:
    guiders = _guiders(request)
    batch = None if guiders is None else guided_batch(len(guiders.passes()))
    return BucketGraphs.select(profile_graphs(request.profile, files.dims), request.bucket, batch,
                               images=bool(request.images),
                               keyframes=appended_keyframes(request.images, request.pipeline))
