"""ltx-trt's runtime (torch executor) vs ltx-pipelines' DistilledPipeline, in one process, on one set of weights.

    python benchmarks/gpu_distilled.py [--reps 3] [--compiled] [--json results.json]   # full size, CUDA
    python benchmarks/gpu_distilled.py --tiny --device cpu --reps 1          # dry run on a CPU

Weights: the LTX-2.3 22B config (model.ltx23_config), every module built on meta by ltx-core's own
configurators (model.components), then each state_dict entry drawn on the device as seeded random
bf16 with model.synthetic.random_tensor's scaling rules (drawn by a CUDA generator, so other values
than the file writer's), and assigned. Non-persistent buffers (the vocoder's resampler filter) stay as
computed at init, as ltx-core's own builder leaves them. No checkpoint file is read.

Both sides run THE SAME in-memory modules, seed, contexts and shape (the h100 profile's 768x512x121
bucket, every component bf16 as in the official pipeline):
- ltx-trt: runtime.pipeline.generate() itself (Step buffers, device-side sigma index, runtime.loop,
  runtime.rope, runtime.sampling; optional CUDA-graph capture) with the transformer as run executes
  it: runtime.chain.BlockChain (pre, 48 x block, post: model.transformer_parts on a meta model) over a
  TorchExecutor, weights packed by runtime.weight_store from the same in-memory transformer, either
  all on the GPU or, with --budget-gib B, B GiB of them there and the other blocks streamed from
  pinned host memory every step; model.decoder_graphs' wrappers for the rest. The mp4 write is
  replaced by a no-op; the text graphs by modules that return the fixed contexts.
  Rounds alternate: in each, the official pipeline runs once, its transformer moves to host memory
  (the chain holds its own packed copy of the weights), every ltx-trt mode runs once, and the
  transformer comes back for the next round; round 0 is a warm-up.
- official: DistilledPipeline.__call__ itself on an instance whose ModelLedger is replaced by one
  handing out the in-memory modules (instead of its file loader), under torch.inference_mode() as
  its main() runs it, with TilingConfig.default(); encode_prompts returns the same fixed contexts;
  the lazy video-decode iterator is consumed inside the decode phase. Its upsampler gets the
  video VAE's latent statistics from ltx-trt's stand-in for the 319 M-parameter video encoder
  (upsample_video reads only `per_channel_statistics`; image conditioning is not used).

Not measured: Gemma-3 text encoding and the connectors (both sides get the same random contexts),
the mp4 mux. Phases are wall-clock seconds between device synchronisations; transformer steps are
timed with CUDA events. Peak memory is torch.cuda.max_memory_allocated, reset at every phase: with
CUDA graphs the step activations sit in the graph's private pool, taken during capture, and replay
allocates nothing. Every run starts after gc.collect() + torch.cuda.empty_cache(). The work of one step
per stage is counted once (torch.utils.flop_counter on an eager step: matmuls and attention) and each
mode's step medians become TFLOP/s and a share of the chip's dense bf16 peak. Prints medians with their
spread (min-max over the measured rounds), the generation ratios (capture included), the Markdown
tables, and per mode the weight store's packing time, resident and streamed blocks and GPU bytes.
The official side lives in gpu_official.py.
"""

import argparse
import contextlib
import dataclasses
import json
import time
import types
from pathlib import Path
from unittest import mock

import torch
from torch.utils.flop_counter import FlopCounterMode

from ltx_trt.model import components
from ltx_trt.model.ltx23_config import FULL_UPSAMPLER_CONFIG, TINY_UPSAMPLER_CONFIG, full_config, tiny_config
from ltx_trt.model.synthetic import random_tensor
from ltx_trt.model.weights import parameters_on_meta

from ltx_core.model.video_vae.ops import PerChannelStatistics  # noqa: E402  (after components: torchaudio placeholder)

from ltx_trt.model.decoder_graphs import (  # noqa: E402
    AudioDecoderGraph, UpsamplerGraph, UpsamplerWithStatistics, VideoDecoderGraph)
from ltx_trt.core import shapes  # noqa: E402
from ltx_trt.core.components import COMPONENTS  # noqa: E402
from ltx_trt.core.plan import profile_graphs  # noqa: E402
from ltx_trt.model import transformer_parts  # noqa: E402
from ltx_trt.runtime import media, pipeline  # noqa: E402
from ltx_trt.runtime.executors.pytorch import TorchExecutor  # noqa: E402

from gpu_official import run_official  # noqa: E402
from gpu_timing import (GIB, Clock, Timeline, environment, free_cache, peak_bf16, phase, summarize,  # noqa: E402
                        table, work_table)
from ltx_trt.core.profiles import Bucket, load_profile  # noqa: E402
from ltx_trt.runtime.chain import block_chain  # noqa: E402
from ltx_trt.runtime.step import Step  # noqa: E402

SEED = 10
TINY_BUCKET = Bucket(name="tiny", width=256, height=128, frames=17, fps=24)

# --- weights --------------------------------------------------------------------------------------------


def materialize(factory, seed: int, device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    """Build on meta (buffers computed at init stay real), assign random state, move the rest to `device`."""
    with parameters_on_meta():
        module = factory()
    state = {}
    for key, tensor in module.state_dict().items():
        value = random_tensor(key, tuple(tensor.shape), seed, device)
        state[key] = value.to(dtype if tensor.is_floating_point() else tensor.dtype)
        del value
    module.load_state_dict(state, strict=True, assign=True)
    return module.to(device).eval().requires_grad_(False)


def build_models(config: dict, upsampler_config: dict, device, dtype) -> types.SimpleNamespace:
    return types.SimpleNamespace(
        transformer=materialize(lambda: components.transformer(config), 0, device, dtype),
        upsampler=materialize(lambda: UpsamplerWithStatistics(components.upsampler(upsampler_config),
                                                              PerChannelStatistics(128)), 1, device, dtype),
        video_decoder=materialize(lambda: components.video_decoder(config), 2, device, dtype),
        audio=materialize(lambda: components.audio_decoder(config), 3, device, dtype),
    )


# --- ltx-trt --------------------------------------------------------------------------------------------


class Fixed(torch.nn.Module):
    """Stands in for a text graph: returns fixed tensors (text encoding is not measured)."""

    def __init__(self, *outputs: torch.Tensor) -> None:
        super().__init__()
        self.outputs = outputs

    def forward(self, *inputs):
        return self.outputs


class TimedExecutor:
    """The chain executor, with the transformer graph timed while a step is being called (not in capture)."""

    def __init__(self, inner, clock: Clock) -> None:
        self.inner, self.clock, self.active = inner, clock, False

    def release(self, graph_keys):
        self.inner.release(graph_keys)

    def run(self, graph_key, inputs, outputs):
        if not (self.active and graph_key.startswith("transformer")):
            return self.inner.run(graph_key, inputs, outputs)
        start = self.clock.stamp()
        self.inner.run(graph_key, inputs, outputs)
        self.clock.pairs.append((f"transformer {graph_key.rsplit('.', 1)[-1]}", start, self.clock.stamp()))


def timed_step_class(executor: TimedExecutor, timeline: Timeline):
    class TimedStep(Step):
        """runtime.step.Step; each call timed with events, its capture a timeline segment of its own."""

        def __call__(self) -> None:
            executor.active = True
            start = executor.clock.stamp()
            super().__call__()
            executor.clock.pairs.append((f"step {self.graph_key.rsplit('.', 1)[-1]}", start, executor.clock.stamp()))
            executor.active = False

        def capture(self) -> None:
            stage = timeline.label  # captured inside its stage, after the first (eager) step
            timeline.mark("cuda-graph capture")
            super().capture()
            timeline.mark(stage)

    return TimedStep


def ltx_trt_chain(setup, budget_gib: float | None, compiled: bool = False):
    """The executor run uses: the transformer's BlockChain (weights packed from the in-memory model) over a
    TorchExecutor that also holds the other components' wrappers; `compiled`: the block graphs through
    torch.compile, as `run --compile on` does."""
    device, models, graphs = setup.device, setup.models, setup.graphs
    transformers = [graphs.first, graphs.stage2]
    parts = transformer_parts.part_modules(setup.config, transformers)
    for key, module in parts.items():
        if compiled and key.endswith(".block"):
            module.compile()
    inner = TorchExecutor({
        graphs.text_encoder.key: Fixed(torch.zeros(graphs.text_encoder.outputs[0].shape, dtype=setup.dtype,
                                                   device=device)),
        graphs.connector.key: Fixed(setup.contexts["video"], setup.contexts["audio"]),
        **parts,
        graphs.upsampler.key: UpsamplerGraph(models.upsampler).eval(),
        graphs.video_decoder.key: VideoDecoderGraph(models.video_decoder).eval(),
        graphs.audio_decoder.key: AudioDecoderGraph(models.audio).eval(),
    })
    budget = None if budget_gib is None else int(budget_gib * GIB)
    return block_chain(inner, transformers, setup.layout,
                                         transformer_parts.model_reader(models.transformer), setup.dtype, device,
                                         budget)


def count_step_flops(setup, chain) -> dict[str, int]:
    """FLOPs of one transformer step per stage (torch.utils.flop_counter: matmuls and attention kernels,
    cuDNN's included), counted on one eager generate() of the ltx-trt chain; the same work as the official
    forward (bitwise the same computation)."""
    counted: dict[str, int] = {}

    class CountingStep(Step):
        def __call__(self) -> None:
            stage = self.graph_key.rsplit(".", 1)[-1]
            if stage in counted:
                return super().__call__()
            with FlopCounterMode(display=False) as mode:
                super().__call__()
            counted[stage] = mode.get_total_flops()

    tokens = {"input_ids": torch.zeros(1, shapes.CONTEXT_TOKENS, dtype=torch.int64),
              "attention_mask": torch.ones(1, shapes.CONTEXT_TOKENS, dtype=torch.int64)}
    with mock.patch.object(pipeline, "Step", CountingStep), mock.patch.object(media, "write_mp4", lambda path, *a: path):
        pipeline.generate(tokens, SEED, Path("unused.mp4"), graphs=setup.graphs, bucket=setup.bucket,
                          config=setup.config, executor=chain, device=setup.device, cuda_graphs=False, release=False)
    return counted


def run_ltx_trt(setup, chain, cuda_graphs: bool) -> dict:
    """runtime.pipeline.generate() on the in-memory modules; returns timings and the stage latents."""
    device, graphs = setup.device, setup.graphs
    clock, timeline, latents = Clock(device), Timeline(device), []
    executor = TimedExecutor(chain, clock)
    tokens = {"input_ids": torch.zeros(1, shapes.CONTEXT_TOKENS, dtype=torch.int64),
              "attention_mask": torch.ones(1, shapes.CONTEXT_TOKENS, dtype=torch.int64)}
    keep = lambda out: latents.append({m: t.clone() for m, t in out.items()}) or out  # noqa: E731
    with contextlib.ExitStack() as stack:
        patch = lambda name, new, where=pipeline: stack.enter_context(mock.patch.object(where, name, new))  # noqa: E731
        patch("Step", timed_step_class(executor, timeline))
        patch("denoise", phase(timeline, pipeline.denoise, ["stage 1", "stage 2"], keep=keep))
        patch("_upsample", phase(timeline, pipeline._upsample, ["upsample"]))
        patch("_decode_video", phase(timeline, pipeline._decode_video, ["video decode"]))
        patch("_decode_audio", phase(timeline, pipeline._decode_audio, ["audio decode"]))
        patch("write_mp4", lambda path, *args: path, where=media)
        timeline.mark("setup")
        pipeline.generate(tokens, SEED, Path("unused.mp4"), graphs=graphs, bucket=setup.bucket, config=setup.config,
                          executor=executor, device=device, cuda_graphs=cuda_graphs, release=False)
        timeline.mark(None)
    return {"phases": timeline.totals(), "steps": clock.seconds(),
            "latents": [latents[0]["video"], latents[0]["audio"], latents[1]["video"], latents[1]["audio"]]}


# --- main -----------------------------------------------------------------------------------------------


def make_setup(tiny: bool, device: torch.device, size: tuple[int, int, int] = (768, 512, 121)) -> types.SimpleNamespace:
    """Random-weight modules on `device` and the graphs of one bucket of the h100 profile (`size`), all bf16."""
    dtype = torch.bfloat16
    config, upsampler_config = ((tiny_config(), TINY_UPSAMPLER_CONFIG) if tiny
                                else (full_config(), FULL_UPSAMPLER_CONFIG))
    h100 = load_profile("h100")
    bucket = TINY_BUCKET if tiny else h100.bucket(*size)
    # every component bf16, as the official pipeline runs them (the h100 profile's audio decoder is fp32)
    profile = dataclasses.replace(h100, precision={c: "bf16" for c in COMPONENTS}, buckets=(bucket,))
    t = config["transformer"]
    layout = transformer_parts.layout_from_config(config)
    stand_in = shapes.ChainWeights(0, (("embed_tokens.weight", (1, 8)),), (("self_attn.q_norm.weight", (8,)),),
                                   (("norm.weight", (8,)),))  # the text graphs are stand-ins: any width
    dims = shapes.ModelDims(t["num_attention_heads"], t["attention_head_dim"], t["audio_num_attention_heads"],
                            t["audio_attention_head_dim"], t["audio_cross_attention_dim"],
                            gemma_hidden=8, gemma_layers=0, transformer=layout, text_encoder=stand_in)
    graphs = pipeline.BucketGraphs.select(profile_graphs(profile, dims), bucket)
    start = time.perf_counter()
    models = build_models(config, upsampler_config, device, dtype)
    if device.type == "cuda":
        torch.cuda.synchronize()
    build_s = time.perf_counter() - start
    generator = torch.Generator(device).manual_seed(1)
    contexts = {"video": torch.randn(1, shapes.CONTEXT_TOKENS, dims.video_dim, generator=generator, device=device),
                "audio": torch.randn(1, shapes.CONTEXT_TOKENS, dims.audio_dim, generator=generator, device=device)}
    contexts = {m: c.to(dtype) for m, c in contexts.items()}
    return types.SimpleNamespace(device=device, dtype=dtype, config=config, bucket=bucket, graphs=graphs,
                                 models=models, contexts=contexts, build_s=build_s, layout=layout, dims=dims,
                                 profile=profile)


def compare(ours: list[torch.Tensor], theirs: list[torch.Tensor]) -> dict:
    names = ["stage-1 video", "stage-1 audio", "stage-2 video", "stage-2 audio"]
    out = {}
    for name, a, b in zip(names, ours, theirs):
        a, b = a.float(), b.float()
        out[name] = {"equal": bool(torch.equal(a, b)), "rel_l2": ((a - b).norm() / b.norm()).item(),
                     "max_abs": (a - b).abs().max().item(), "std": b.std().item()}
    return out


def measure(name: str, run, device: torch.device, rep: int, runs: dict) -> list[torch.Tensor]:
    """One run of one mode (rep 0 is a warm-up, left out of `runs`); returns its latents."""
    free_cache(device)
    result = run()
    print(f"rep {rep} {name}: total {result['phases']['total']['s']:.3f} s", flush=True)
    latents = result.pop("latents")
    if rep > 0:
        runs.setdefault(name, []).append(result)
    return latents


def ltx_trt_modes(device: torch.device, budgets: list[float], compiled: bool) -> list[tuple]:
    """(name, CUDA graphs, weight budget GiB or None = all resident, compiled blocks) of each ltx-trt mode."""
    modes = [("ltx-trt eager", False, None, False)]
    if device.type == "cuda":
        modes.append(("ltx-trt cuda-graph", True, None, False))
        modes += [(f"ltx-trt cuda-graph, {b:g} GiB weights", True, b, False) for b in budgets]
        if compiled:
            modes.append(("ltx-trt cuda-graph, compiled blocks", True, None, True))
    return modes


def one_round(setup, args, rep: int, runs: dict, stores: dict, agreement: dict, flops: dict) -> None:
    """The official pipeline, then every ltx-trt mode, one run each: the official transformer goes to the
    host while the chain holds its own packed copy of the weights, and comes back for the next round."""
    device = setup.device
    setup.models.transformer.to(device)
    reference = measure("official eager", lambda: run_official(setup, SEED), device, rep, runs)
    setup.models.transformer.to("cpu")
    for name, cuda_graphs, budget, compiled in ltx_trt_modes(device, args.budget_gib, args.compiled):
        free_cache(device)
        start = time.perf_counter()
        chain = ltx_trt_chain(setup, budget, compiled)
        store = chain.store = chain.make_store()  # packed here (run does it on the first step), timed
        stores[name] = {"pack_s": time.perf_counter() - start, "resident_blocks": len(store.resident),
                        "streamed_blocks": len(store.streamed), "device_gib": store.device_bytes / GIB}
        if not flops:
            flops.update(count_step_flops(setup, chain))
            print(f"counted FLOPs per step: {flops}", flush=True)
        latents = measure(name, lambda: run_ltx_trt(setup, chain, cuda_graphs), device, rep, runs)
        agreement[f"{name} vs official"] = compare(latents, reference)
        del chain, store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny config and a 256x128x17 bucket (dry run)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--reps", type=int, default=3, help="measured rounds (each runs every mode once), after a "
                        "warm-up round")
    parser.add_argument("--compiled", action="store_true", help="also the CUDA-graph mode with torch.compile'd blocks")
    parser.add_argument("--budget-gib", type=float, action="append", default=[],
                        help="also run with this many GiB of transformer weights on the GPU, the rest streamed")
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args()
    device = torch.device(args.device)
    env = environment(device)
    print(json.dumps(env), flush=True)
    setup = make_setup(args.tiny, device)
    print(f"built modules in {setup.build_s:.1f} s; allocated "
          f"{torch.cuda.memory_allocated() / GIB if device.type == 'cuda' else float('nan'):.2f} GiB", flush=True)
    runs, agreement, stores, flops = {}, {}, {}, {}
    for rep in range(1 + args.reps):  # rounds alternate the official pipeline and every ltx-trt mode
        one_round(setup, args, rep, runs, stores, agreement, flops)
    summary = summarize(runs)
    ratios = {}  # ltx-trt's whole step (transformer + sampler) over the official transformer forward
    for mode in list(runs)[1:]:
        ratios[f"{mode} generation (capture included) / official"] = (
            summary[mode]["phases"]["total"]["s"] / summary["official eager"]["phases"]["total"]["s"])
        for stage in ("stage1", "stage2"):
            ours = summary[mode]["steps"][f"step {stage}"]["median_s"]
            ratios[f"{mode} step / official forward, {stage}"] = ours / summary["official eager"]["steps"][
                f"transformer {stage}"]["median_s"]
    peak = peak_bf16(device)
    report = {"environment": env, "bucket": dataclasses.asdict(setup.bucket), "build_s": setup.build_s,
              "stores": stores, "summary": summary, "ratios": ratios, "agreement": agreement, "runs": runs,
              "flops_per_step": flops, "peak_bf16": peak}
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    for name, result in agreement.items():
        print(name, json.dumps({k: {"equal": v["equal"], "rel_l2": f"{v['rel_l2']:.3g}"} for k, v in result.items()}))
    for name, ratio in ratios.items():
        print(f"{name}: {ratio:.3f}")
    print(table(summary))
    print(work_table(summary, flops, peak))


if __name__ == "__main__":
    main()
