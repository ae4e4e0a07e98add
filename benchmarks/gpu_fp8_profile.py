"""Where an FP8 block's time goes: GEMM micro-benchmarks and a kernel profile of one full-width block.

    python benchmarks/gpu_fp8_profile.py [--tokens 6144] [--json out.json]

1. The block's largest GEMMs at M tokens, bf16 F.linear vs torch._scaled_mm (FP8 e4m3, per-tensor scales,
   bf16 out) with and without fast accumulation and the bias fused, timed with CUDA events over 50
   replays of a captured graph, random data, and the TFLOP/s each reaches.
2. One LTX-2.3 block (22B config, random bf16 weights; stage-2 768x512x121 shapes: 6,144 video and 126
   audio tokens, 1,024 context tokens) as the chain runs it (model.transformer_parts PartGraph), in
   bf16 eager, bf16 compiled, fp8 eager, fp8 compiled (model.quant_linear), each replayed from a CUDA
   graph: time per block, and the top kernels of a torch.profiler trace grouped by kind.
"""

import argparse
import json
import time

import torch

import gpu_distilled as base  # noqa: E402  (beside this script)
from ltx_trt.core.plan import transformer_graph
from ltx_trt.core.precision import recipe
from ltx_trt.model import quantize, transformer_parts
from ltx_trt.core import shapes
from ltx_trt.model.ltx23_config import full_config


def timed(fn, reps: int = 50) -> float:
    """Median seconds of `fn` replayed from a CUDA graph (warmed up first)."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        graph.replay()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return sorted(times)[len(times) // 2]


def gemms(tokens: int) -> dict:
    out = {}
    for n, k in ((16384, 4096), (4096, 16384), (4096, 4096)):
        x = torch.randn(tokens, k, device="cuda").bfloat16()
        w = (torch.randn(n, k, device="cuda") * 0.02).bfloat16()
        b = torch.randn(n, device="cuda").bfloat16()
        codes, ws = quantize.quantize_fp8(w)
        xs = torch.tensor(float(x.abs().max()) / 448, device="cuda")
        xq = quantize.fp8_codes(x, xs)
        flops = 2 * tokens * n * k
        cases = {
            "bf16 linear+bias": lambda: torch.nn.functional.linear(x, w, b),
            "fp8 scaled_mm": lambda: torch._scaled_mm(xq, codes.t(), scale_a=xs, scale_b=ws, out_dtype=torch.bfloat16),
            "fp8 scaled_mm+bias": lambda: torch._scaled_mm(xq, codes.t(), scale_a=xs, scale_b=ws, bias=b,
                                                           out_dtype=torch.bfloat16),
            "fp8 scaled_mm fast-accum+bias": lambda: torch._scaled_mm(xq, codes.t(), scale_a=xs, scale_b=ws, bias=b,
                                                                      out_dtype=torch.bfloat16, use_fast_accum=True),
            "fp8 quantize x (separate kernel)": lambda: quantize.fp8_codes(x, xs),
        }
        for name, fn in cases.items():
            seconds = timed(fn)
            out[f"{tokens}x{k}->{n} {name}"] = {"ms": seconds * 1e3, "tflops": flops / seconds / 1e12}
            print(f"{tokens}x{k}->{n} {name}: {seconds * 1e3:.3f} ms, {flops / seconds / 1e12:.0f} TFLOP/s", flush=True)
    return out


def block_inputs(config, part, model, dtype):
    """The block part's inputs: random activations, real RoPE tables, block 0's weights as the graph wants them."""
    from ltx_trt.model.transformer_graph import example_inputs

    return [t.cuda() for t in example_inputs(model, part, seed=0)]


def blocks(tokens_note: str) -> dict:
    config = full_config()
    config = {**config, "transformer": {**config["transformer"], "num_layers": 1}}
    model = base.materialize(lambda: base.components.transformer(config), 0, torch.device("cpu"), torch.bfloat16)
    layout = transformer_parts.layout_from_config(config)
    dims = shapes.ModelDims(32, 128, 32, 64, 2048, 8, 0, layout)
    grid = shapes.latent_grid(768, 512, 121, 24)
    out = {}
    for precision in ("bf16", "fp8"):
        q = None if precision == "bf16" else recipe("fp8", 1, layout.linears())
        weights = base.dataclasses.replace(layout, quantization=q)
        dims_p = base.dataclasses.replace(dims, transformer=weights)
        graph = transformer_graph(dims_p, grid, "p.stage2", {"transformer": precision})
        part = graph.part("block" if precision == "bf16" else "block_fp8")
        inputs = block_inputs(config, part, model, torch.bfloat16)
        meta = transformer_parts.meta_transformer(config)
        for compiled in (False, True):
            module = transformer_parts.wrap_part(meta, part)
            if compiled:
                module.compile()
            fn = lambda: module(*inputs)  # noqa: E731
            with torch.no_grad():
                seconds = timed(fn, reps=20)
                name = f"{precision}{' compiled' if compiled else ''}"
                out[name] = {"ms": seconds * 1e3, "kernels": profile(fn)}
            print(f"block {name}: {seconds * 1e3:.2f} ms", flush=True)
            print(json.dumps(out[name]["kernels"][:12], indent=0), flush=True)
    return out


def profile(fn) -> list:
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        for _ in range(3):
            fn()
        torch.cuda.synchronize()
    rows = [(e.key, e.device_time_total / 3 / 1e3) for e in prof.key_averages() if e.device_time_total > 0]
    rows.sort(key=lambda r: -r[1])
    return [{"kernel": k[:90], "ms": round(ms, 3)} for k, ms in rows[:25]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=6144)
    parser.add_argument("--json")
    args = parser.parse_args()
    start = time.perf_counter()
    report = {"environment": base.environment(torch.device("cuda")), "gemms": gemms(args.tokens),
              "blocks": blocks(str(args.tokens))}
    report["seconds"] = time.perf_counter() - start
    if args.json:
        open(args.json, "w").write(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
