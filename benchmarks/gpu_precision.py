"""bf16 vs FP8 (W8A8) LTX-2.3 transformer, torch executor: step times, whole clips and errors, side by side.

    python benchmarks/gpu_precision.py --size 768x512x121 [--reps 2] [--json out.json]    # full size, CUDA
    python benchmarks/gpu_precision.py --size 1280x704x241 --steps-only --reps 1
    python benchmarks/gpu_precision.py --tiny --device cpu --reps 1                      # dry run

One process, one set of random full-size weights (benchmarks/gpu_distilled.py make_setup: the 22B config,
seeded random bf16, the same contexts for every mode), the h100 profile's bucket of --size. Every mode runs
runtime.pipeline.generate() (or, with --steps-only, the two denoising stages) with the transformer as
`ltx-trt run --executor torch` runs it: runtime.chain.BlockChain over a TorchExecutor, weights packed by
runtime.weight_store through model.quantized_weights.graph_reader, steps captured in CUDA graphs:
  bf16            the bf16 graphs (the baseline: the CUDA-graph step measured in issue #4)
  bf16 compiled   the same, each block graph through torch.compile
  fp8             the fp8 graphs: blocks 2-45 with every Linear W8A8 (model.quant_linear: per-tensor
                  FP8 weights, static input scales from a calibration run of the bf16 mode on the same
                  contexts, torch._scaled_mm), the activation quantization as separate kernels
  fp8 compiled    the same with each block graph through torch.compile (the quantization fused)
  fp8_cast        ltx-core's fp8_cast policy on the bf16 graphs: the Linear weights and biases its map
                  names cast to float8_e4m3fn without scale and back to bf16 at use (errors only)
  int4            the int4 graphs (weight-only, block 128), dequantized then bf16 GEMMs
  nvfp4           the nvfp4 graphs (W4A4, e2m1 in blocks of 16 with e4m3 block scales), the reference
                  math emulated in float32 (errors only: no FP4 tensor cores here)
Errors are relative L2 against the bf16 mode: one stage-2 transformer forward on fixed inputs, and the
final latents of each stage. Times: CUDA events around each step (transformer + sampler) and phase
wall times between device synchronisations; rep 0 (compilation, capture) is left out.
"""

import argparse
import dataclasses
import json
import time
import types
from pathlib import Path

import torch

import gpu_distilled as base  # noqa: E402  (beside this script)
from gpu_timing import GIB, summarize, table  # noqa: E402
from ltx_trt.commands.calibrate import _Recorder
from ltx_trt.core.components import COMPONENTS, MODALITIES
from ltx_trt.core.plan import profile_graphs
from ltx_trt.model import transformer_parts
from ltx_trt.model.quantized_weights import graph_reader
from ltx_trt.runtime import pipeline, rope
from ltx_trt.runtime.chain import block_chain
from ltx_trt.runtime.executors import allocate
from ltx_trt.runtime.executors.pytorch import TorchExecutor

# ltx-core 1.0.0's fp8_cast map (ltx_core/quantization/fp8_cast.py TRANSFORMER_LINEAR_DOWNCAST_MAP): these
# block Linears' weights and biases are stored as float8_e4m3fn, no scale, and upcast at use.
FP8_CAST = (".to_q.", ".to_k.", ".to_v.", ".to_out.0.", "ff.net.0.proj.", "ff.net.2.")
MODES = {  # name -> (transformer precision, compiled, weights)
    "bf16": ("bf16", False, "plain"), "bf16 compiled": ("bf16", True, "plain"),
    "fp8": ("fp8", False, "plain"), "fp8 compiled": ("fp8", True, "plain"), "fp8_cast": ("bf16", False, "fp8_cast"),
    "int4": ("int4", False, "plain"), "nvfp4": ("nvfp4", False, "plain"),
}


def graphs_for(setup, precision: str) -> pipeline.BucketGraphs:
    profile = dataclasses.replace(setup.profile, precision={**{c: "bf16" for c in COMPONENTS}, "transformer": precision})
    return pipeline.BucketGraphs.select(profile_graphs(profile, setup.dims), setup.bucket)


def plain_reader(setup, kind: str):
    read = transformer_parts.model_reader(setup.models.transformer)

    def on_device(part, block, name):
        tensor = read(part, block, name).to(setup.device)
        if kind == "fp8_cast" and part.startswith("block") and any(k in f".{name}" for k in FP8_CAST):
            return tensor.to(torch.float8_e4m3fn).to(tensor.dtype)
        return tensor

    return on_device


def make_chain(setup, graphs, read, compiled: bool, inner_wrapper=None):
    transformers = [graphs.stage1, graphs.stage2]
    parts = transformer_parts.part_modules(setup.config, transformers)
    if compiled:
        parts = {key: (module.compile() if ".block" in key else module) for key, module in parts.items()}
    inner = TorchExecutor({
        graphs.text_encoder.key: base.Fixed(torch.zeros(graphs.text_encoder.outputs[0].shape, dtype=setup.dtype,
                                                        device=setup.device)),
        graphs.connector.key: base.Fixed(setup.contexts["video"], setup.contexts["audio"]),
        **parts,
        graphs.upsampler.key: base.UpsamplerGraph(setup.models.upsampler).eval(),
        graphs.video_decoder.key: base.VideoDecoderGraph(setup.models.video_decoder).eval(),
        graphs.audio_decoder.key: base.AudioDecoderGraph(setup.models.audio).eval(),
    })
    if inner_wrapper is not None:
        inner = inner_wrapper(inner, parts)
    layout = graphs.stage1.weights
    return block_chain(inner, transformers, layout, graph_reader(read, layout, None, setup.dtype, setup.amax),
                       setup.dtype, setup.device, None)


def calibrate(setup) -> dict:
    """Input maxima of every block Linear over one eager bf16 run (commands.calibrate's recorder)."""
    graphs = graphs_for(setup, "bf16")
    recorders = []

    def wrap(inner, parts):
        blocks = {id(m.inner.block): m.inner.block for k, m in parts.items() if k.endswith(".block")}
        pre = {k for k in parts if k.endswith(".pre")}
        recorders.append(_Recorder(inner, list(blocks.values()), pre, {k for k in parts if k.endswith(".block")}))
        return recorders[0]

    chain = make_chain(setup, graphs, plain_reader(setup, "plain"), False, wrap)
    base.run_ltx_trt(_with(setup, graphs), chain, False)
    chain.release([graphs.stage1.key, graphs.stage2.key])
    return recorders[0].amax


def _with(setup, graphs):
    return types.SimpleNamespace(**{**vars(setup), "graphs": graphs})


def fixed_inputs(setup, graph) -> dict:
    """Stage-2 transformer inputs: random tokens, sigma 0.9, the setup's contexts, the grid's RoPE tables."""
    generator = torch.Generator(setup.device).manual_seed(7)
    inputs = allocate(graph.inputs, setup.device)
    for m in MODALITIES:
        inputs[f"{m}_tokens"].copy_(torch.randn(inputs[f"{m}_tokens"].shape, generator=generator, device=setup.device))
        inputs[f"{m}_sigma"].fill_(0.9)
        inputs[f"{m}_timesteps"].fill_(0.9)
        inputs[f"{m}_context"].copy_(setup.contexts[m])
    tables = rope.rope_tables(rope.RopeConfig.from_config(setup.config), graph.grid, setup.bucket.fps, setup.dtype,
                              setup.device)
    for name, table_ in tables.items():
        inputs[name].copy_(table_)
    return inputs


def one_forward(chain, graph, inputs, device) -> list[torch.Tensor]:
    outputs = allocate(graph.outputs, device)
    with torch.no_grad():
        chain.run(graph.key, inputs, outputs)
    return [t.float().clone() for t in outputs.values()]


def rel_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


def run_mode(setup, name: str, args, reference: dict, fixed: dict) -> dict:
    precision, compiled, weights = MODES[name]
    graphs = graphs_for(setup, precision)
    base.free_cache(setup.device)
    start = time.perf_counter()
    chain = make_chain(setup, graphs, plain_reader(setup, weights), compiled)
    store = chain.store = chain.make_store()
    packed = {"pack_s": time.perf_counter() - start, "device_gib": store.device_bytes / GIB,
              "blocks": {kind: store.kinds.count(kind) for kind in set(store.kinds)}}
    print(f"{name}: {packed}", flush=True)
    forward = one_forward(chain, graphs.stage2, fixed, setup.device)
    run = (lambda: steps_only(_with(setup, graphs), chain)) if args.steps_only else \
        (lambda: base.run_ltx_trt(_with(setup, graphs), chain, setup.device.type == "cuda"))
    results, latents = base.measure(name, run, 0 if name in ("fp8_cast", "int4", "nvfp4") else args.reps, setup.device)
    chain.release([graphs.stage1.key, graphs.stage2.key])
    reference.setdefault("forward", forward)
    reference.setdefault("latents", latents)
    errors = {"forward " + m: rel_l2(a, b) for m, a, b in zip(MODALITIES, forward, reference["forward"])}
    names = ["stage-1 video", "stage-1 audio", "stage-2 video", "stage-2 audio"]
    errors |= {n: rel_l2(a, b) for n, a, b in zip(names, latents, reference["latents"])}
    print(f"{name} errors vs bf16: {json.dumps({k: f'{v:.3g}' for k, v in errors.items()})}", flush=True)
    return {"store": packed, "runs": results, "errors": errors}


def steps_only(setup, chain) -> dict:
    """The two denoising stages alone (no decoders), timed like run_ltx_trt's steps."""
    clock, timeline, latents = base.Clock(setup.device), base.Timeline(setup.device), []
    executor = base.TimedExecutor(chain, clock)
    tokens = {"input_ids": torch.zeros(1, 1024, dtype=torch.int64),
              "attention_mask": torch.ones(1, 1024, dtype=torch.int64)}
    keep = lambda out: latents.append({m: t.clone() for m, t in out.items()}) or out  # noqa: E731
    with base.mock.patch.object(pipeline, "Step", base.timed_step_class(executor, timeline)), \
            base.mock.patch.object(pipeline, "denoise", base.phase(timeline, pipeline.denoise, ["stage 1", "stage 2"],
                                                                  keep=keep)):
        timeline.mark("setup")
        pipeline.denoised_latents(tokens, base.SEED, graphs=setup.graphs, bucket=setup.bucket, config=setup.config,
                                  executor=executor, device=setup.device, cuda_graphs=setup.device.type == "cuda",
                                  progress=pipeline.Progress(lambda line: None), done=lambda keys: None)
        timeline.mark(None)
    return {"phases": timeline.totals(), "steps": clock.seconds(),
            "latents": [latents[0]["video"], latents[0]["audio"], latents[1]["video"], latents[1]["audio"]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--size", default="768x512x121", help="WIDTHxHEIGHTxFRAMES, a bucket of the h100 profile")
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--steps-only", action="store_true", help="time the denoising stages, not decoders")
    parser.add_argument("--mode", action="append", choices=list(MODES), help="default: all")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    device = torch.device(args.device)
    env = base.environment(device)
    print(json.dumps(env), flush=True)
    setup = base.make_setup(args.tiny, device, tuple(int(v) for v in args.size.split("x")))
    setup.models.transformer.to("cpu")  # each mode packs its own copy of the weights
    setup.amax, start = None, time.perf_counter()
    amax = calibrate(setup)
    setup.amax = lambda block, linear: amax[(block, linear)]
    print(f"built modules in {setup.build_s:.1f} s, calibrated {len(amax)} Linears in "
          f"{time.perf_counter() - start:.1f} s", flush=True)
    report, reference = {"environment": env, "bucket": dataclasses.asdict(setup.bucket), "modes": {}}, {}
    for name in args.mode or [m for m in MODES if m not in ("int4", "nvfp4")]:
        fixed = fixed_inputs(setup, graphs_for(setup, "bf16").stage2)
        report["modes"][name] = run_mode(setup, name, args, reference, fixed)
        if args.json:
            args.json.write_text(json.dumps(report, indent=1))
    summary = summarize({n: r["runs"] for n, r in report["modes"].items() if r["runs"]})
    report["summary"] = summary
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    print(table(summary))


if __name__ == "__main__":
    main()
