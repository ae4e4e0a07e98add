"""torch.compile'd block graphs agree with ltx-core: each block of the tiny model, and the whole chained
transformer (pre -> compiled blocks -> post), bf16 and FP8 (`block_fp8`, which `--compile auto` compiles).

The compiled modules are the run's own: on CUDA what `commands.opening._torch` opens (`ltx-trt run --executor
torch --compile on|auto`); on the CPU, where the run does not compile, the same modules through the same
`PartGraph.compile()`, for the graphs `_compiles` selects. References: ltx-core's own block
`transformer_blocks[i]` fed what the chain feeds block i, and the LTXModel forward.

Tolerances: the one table (core/tolerances.py), keyed as `ltx-trt verify` keys a graph (`graph_key`). bf16:
each block and the transformer within "bf16" of ltx-core (the uncompiled graphs equal ltx-core bit for bit,
so the difference is the compilation's). FP8: each block within "fp8 block" of the uncompiled FP8 block
graph (its PyTorch reference); the transformer within "fp8 block" of the uncompiled chain (one forward:
"fp8", for final latents, counts on the averaging over denoising steps that one forward does not have) and
"fp8 vs bf16" of ltx-core. Measured on the CPU and an H100 alike: bf16 block 0.44-0.48%, transformer
0.7-0.8%; FP8 block 1.0-1.3%, transformer 1.6-1.9% (2.3-2.6% from ltx-core's bf16). Each reference is
farther than 4x the tolerance from the block's input and from the other block's output, so a skipped block or
another block's weights would fail.
"""

import sysconfig
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from ltx_core.components.patchifiers import AudioPatchifier, VideoLatentPatchifier
from ltx_core.guidance.perturbations import BatchedPerturbationConfig
from ltx_core.model.transformer.modality import Modality
from ltx_core.tools import AudioLatentTools, VideoLatentTools
from ltx_core.types import AudioLatentShape, VideoLatentShape
from torch._dynamo.utils import counters

from ltx_trt.commands.opening import _compiles, _torch, keep_compiled_kernels
from ltx_trt.core.components import COMPONENTS, MODALITIES
from ltx_trt.core.plan import Graph, bucket_graphs
from ltx_trt.core.profiles import Bucket
from ltx_trt.core.shapes import WEIGHT_PREFIX
from ltx_trt.core.source import compile_cache_dir
from ltx_trt.core.tolerances import graph_key
from ltx_trt.model import transformer_graph, transformer_parts
from ltx_trt.model.quantized_weights import example_reader
from ltx_trt.runtime import chain, rope
from ltx_trt.runtime.executors import allocate
from ltx_trt.runtime.executors.pytorch import TorchExecutor
from tests.reference import RELATIVE_L2, relative_l2

BUCKET = Bucket("small", width=128, height=64, frames=17, fps=24)  # stage 2: 3x2x4 latent, 18 audio tokens
COMPILE = {"bf16": "on", "fp8": "auto"}  # the --compile choice under which the run compiles each block graph
NO_GPU = "needs an NVIDIA GPU with CUDA (torch.cuda.is_available() is False on this machine)"
CASES = [pytest.param("cpu", p, id=f"cpu-{p}") for p in COMPILE] + [
    pytest.param("cuda", p, id=f"cuda-{p}", marks=[pytest.mark.gpu, pytest.mark.skipif(
        not torch.cuda.is_available(), reason=NO_GPU)]) for p in COMPILE]


def _missing_cpu_compiler() -> str | None:
    """Why TorchInductor cannot build CPU kernels on this machine (None: it can)."""
    from torch._inductor import cpp_builder, exc

    try:
        cpp_builder.get_cpp_compiler()
    except exc.InvalidCxxCompiler as error:
        return f"torch.compile on the CPU needs a C++ compiler (g++), and none is found: {error}"
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not headers.is_file():
        return f"torch.compile on the CPU needs the Python headers, and {headers} is missing"
    return None


class Recording:
    """An executor over `inner` that keeps a copy of what each block graph was fed and what it returned."""

    def __init__(self, inner) -> None:
        self.inner, self.blocks = inner, []

    def release(self, keys) -> None:
        self.inner.release(keys)

    def run(self, key, inputs, outputs) -> None:
        self.inner.run(key, inputs, outputs)
        if key.rsplit(".", 1)[-1].startswith("block"):
            self.blocks.append((key, {k: v.clone() for k, v in inputs.items()}, [v.clone() for v in outputs.values()]))


@dataclass(frozen=True)
class Compared:
    """One device and precision: what the tests compare (outputs are [video, audio] lists; blocks: one per block)."""

    block_key: str  # the block graph's key (its variant ends in `block` or `block_fp8`)
    block_inputs: list  # the hidden states the chain fed each block
    ltx_core_blocks: list  # ltx-core's transformer_blocks[i], its own weights, on what the chain fed block i
    other_blocks: list  # ltx-core's other block on the same inputs (the wrong weights)
    eager_blocks: list  # the uncompiled block graph, as the chain ran it
    compiled_blocks: list  # the compiled block graph on the same inputs and weights
    ltx_core: list  # LTXModel forward
    eager: list  # the chain, uncompiled
    compiled: list  # the chain, compiled block graph
    first_graphs: int  # graphs Dynamo compiled on the block graph's first call (1: the whole block, fused)
    graph_breaks: int  # graph breaks in that compilation
    later_graphs: int  # graphs compiled afterwards: the chain's calls, the other block's weights (0: none)


def _modules(files, graph: Graph, precision: str, device: torch.device, compiled: bool, artifacts: Path) -> dict:
    """The torch executor's modules for `graph`, as the run opens them, compiled or not."""
    choice = COMPILE[precision] if compiled else "off"
    if device.type == "cuda":
        request = SimpleNamespace(profile=SimpleNamespace(precision={"transformer": precision}), compile=choice,
                                  artifacts=artifacts, source=SimpleNamespace(model_id="tiny"))
        return _torch(request, files, list(graph.parts)).executor.modules  # the physical graphs, as the run passes
    modules = transformer_parts.part_modules(files.config, [graph])
    for part in graph.parts:
        if _compiles(choice, part):
            modules[part.key].compile()
    return modules


def _inputs(files, graph: Graph, device: torch.device) -> dict[str, torch.Tensor]:
    """The logical graph's inputs: random tokens and contexts, sigma 0.6, the run's own RoPE tables."""
    generator = torch.Generator().manual_seed(3)
    inputs = allocate(graph.inputs, device)
    for name in ("video_tokens", "audio_tokens", "video_context", "audio_context"):
        inputs[name].copy_(torch.randn(inputs[name].shape, generator=generator))
    for m in MODALITIES:
        inputs[f"{m}_sigma"].fill_(0.6)
        inputs[f"{m}_timesteps"].fill_(0.6)
    dtype = inputs["video_rope_cos"].dtype
    for name, table in rope.rope_tables(rope.RopeConfig.from_config(files.config), graph.grid, BUCKET.fps, dtype,
                                        device).items():
        inputs[name].copy_(table)
    return inputs


def _positions(grid, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Video and audio positions as ltx-core's latent tools make them on `device`, where the official pipeline
    makes them (transformer_graph.reference_positions makes them on the CPU: CUDA's audio positions differ
    from those in the last bit)."""
    video = VideoLatentTools(VideoLatentPatchifier(patch_size=1), VideoLatentShape(
        batch=1, channels=128, frames=grid.frames, height=grid.height, width=grid.width), BUCKET.fps)
    audio = AudioLatentTools(AudioPatchifier(patch_size=16), AudioLatentShape(
        batch=1, channels=8, frames=grid.audio_tokens, mel_bins=16))
    return (video.create_initial_state(device=device, dtype=dtype).positions,
            audio.create_initial_state(device=device, dtype=torch.float32).positions)


def _ltx_core(model, graph: Graph, inputs: dict) -> list[torch.Tensor]:
    """ltx-core's LTXModel forward on the logical graph's inputs."""
    positions = _positions(graph.grid, inputs["video_tokens"].dtype, inputs["video_tokens"].device)
    video, audio = (Modality(latent=inputs[f"{m}_tokens"], sigma=inputs[f"{m}_sigma"],
                             timesteps=inputs[f"{m}_timesteps"], positions=p, context=inputs[f"{m}_context"])
                    for m, p in zip(MODALITIES, positions))
    with torch.no_grad():
        return list(model(video, audio, BatchedPerturbationConfig.empty(1)))


def _chained(modules: dict, graph: Graph, read, inputs: dict, device: torch.device) -> tuple[list, Recording]:
    recording = Recording(TorchExecutor(modules))
    executor = chain.block_chain(recording, [graph], graph.weights, read, torch.bfloat16, device)
    outputs = allocate(graph.outputs, device)
    executor.run(graph.key, inputs, outputs)
    return list(outputs.values()), recording


def _activations(feeds: dict) -> list[torch.Tensor]:
    return [t for name, t in feeds.items() if not name.startswith(WEIGHT_PREFIX)]


def _compare(files, precision: str, device: torch.device, artifacts: Path) -> Compared:
    model = transformer_graph.build(files, torch.bfloat16).to(device)
    graph = bucket_graphs(BUCKET, files.dims, {c: precision if c == "transformer" else "bf16" for c in COMPONENTS})[1]
    read = example_reader(transformer_parts.checkpoint_reader(files.checkpoint), graph.weights, torch.bfloat16)
    inputs = _inputs(files, graph, device)
    eager, ran = _chained(_modules(files, graph, precision, device, False, artifacts), graph, read, inputs, device)
    modules = _modules(files, graph, precision, device, True, artifacts)
    key, feeds = ran.blocks[0][0], [f for _, f, _ in ran.blocks]
    graphs, breaks = counters["stats"]["unique_graphs"], sum(counters["graph_break"].values())
    with torch.no_grad():
        modules[key](*feeds[0].values())  # compiled here
    first, breaks = counters["stats"]["unique_graphs"] - graphs, sum(counters["graph_break"].values()) - breaks
    compiled, _ = _chained(modules, graph, read, inputs, device)
    ltx_core = lambda i, f: list(transformer_parts._Block(model.transformer_blocks[i])(*_activations(f)))  # noqa: E731
    with torch.no_grad():
        compiled_blocks = [list(modules[key](*f.values())) for f in feeds]
        ltx_core_blocks = [ltx_core(i, f) for i, f in enumerate(feeds)]
        other_blocks = [ltx_core(len(feeds) - 1 - i, f) for i, f in enumerate(feeds)]
    later = counters["stats"]["unique_graphs"] - graphs - first
    return Compared(key, [[f[f"{m}_hidden"] for m in MODALITIES] for f in feeds], ltx_core_blocks, other_blocks,
                    [outputs for *_, outputs in ran.blocks], compiled_blocks, _ltx_core(model, graph, inputs), eager,
                    compiled, first, breaks, later)


@pytest.fixture(scope="module")
def compared(tiny_ltx_files, tmp_path_factory):
    """(device, precision) -> Compared, computed once (torch.compile is slow on two cores); TorchInductor's
    caches in a fresh folder (keep_compiled_kernels, as the run's), so each session compiles from scratch."""
    done = {}

    def get(device: str, precision: str) -> Compared:
        missing = _missing_cpu_compiler() if device == "cpu" else None
        if missing:
            pytest.skip(missing)
        if (device, precision) not in done:
            artifacts = tmp_path_factory.mktemp("artifacts")
            with pytest.MonkeyPatch.context() as patch:
                patch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
                keep_compiled_kernels(compile_cache_dir(artifacts, "tiny"))
                done[device, precision] = _compare(tiny_ltx_files, precision, torch.device(device), artifacts)
        return done[device, precision]

    return get


def _tolerance(precision: str, key: str) -> float:
    return RELATIVE_L2[graph_key(precision, key)]


def _errors(actual: list, expected: list) -> list[float]:
    return [relative_l2(a.float().cpu(), e.float().cpu()) for a, e in zip(actual, expected)]


@pytest.mark.parametrize("device, precision", CASES)
def test_compiled_block_graph_is_one_graph_that_serves_every_block(compared, device, precision):
    result = compared(device, precision)
    assert result.first_graphs == 1 and result.graph_breaks == 0  # compiled (as the run selects it), whole
    assert result.later_graphs == 0  # every block's weights and the chain's calls: no recompilation


@pytest.mark.parametrize("device, precision", CASES)
def test_compiled_block_matches_ltx_core_block_on_each_blocks_weights(compared, device, precision):
    result = compared(device, precision)
    tolerance = _tolerance(precision, result.block_key)
    assert len(result.compiled_blocks) == 2  # every block of the tiny model: two different sets of weights
    for i in range(2):
        if precision == "bf16":
            assert all(torch.equal(a, e) for a, e in zip(result.eager_blocks[i], result.ltx_core_blocks[i]))
            reference = result.ltx_core_blocks[i]
        else:  # the FP8 block graph's own reference: the same quantized math, uncompiled
            reference = result.eager_blocks[i]
        errors = _errors(result.compiled_blocks[i], reference)
        unchanged, other = _errors(result.block_inputs[i], reference), _errors(result.other_blocks[i], reference)
        print(f"{device} {precision} block {i}: compiled vs reference {errors}, input {unchanged}, other block {other}")
        assert max(errors) <= tolerance, i
        assert min(unchanged) > 4 * tolerance  # the block does change its input: a skipped block would fail
        assert min(other) > 4 * tolerance  # the weights matter: the other block's would fail
        if precision == "fp8":  # and the quantized block stays near ltx-core's bf16 one
            quantization = _errors(result.compiled_blocks[i], result.ltx_core_blocks[i])
            print(f"{device} fp8 block {i}: compiled vs ltx-core's bf16 block {quantization}")
            assert max(quantization) <= RELATIVE_L2["fp8 vs bf16"]


@pytest.mark.parametrize("device, precision", CASES)
def test_chained_compiled_transformer_matches_ltx_core_forward(compared, device, precision):
    result = compared(device, precision)
    vs_ltx_core = _errors(result.compiled, result.ltx_core)
    vs_eager = _errors(result.compiled, result.eager)
    print(f"{device} {precision} transformer: compiled vs ltx-core {vs_ltx_core}, vs uncompiled {vs_eager}")
    if precision == "bf16":
        assert all(torch.equal(a, e) for a, e in zip(result.eager, result.ltx_core))
        assert max(vs_ltx_core) <= RELATIVE_L2["bf16"]
    else:
        assert max(vs_eager) <= RELATIVE_L2["fp8 block"]  # one forward: no averaging over denoising steps
        assert max(vs_ltx_core) <= RELATIVE_L2["fp8 vs bf16"]
    assert min(a.float().std().item() for a in result.compiled) > 0.1
