"""The dev pipelines' guided stage 1: ltx-trt's batched passes vs ltx-pipelines' one call per pass, one process.

    python benchmarks/gpu_guided.py [--steps 8] [--reps 2] [--compiled] [--json out.json]   # full size, CUDA
    python benchmarks/gpu_guided.py --tiny --device cpu --reps 1 --steps 2                  # dry run

Weights and shapes as gpu_distilled.py (make_setup: the 22B config, seeded random bf16 on the device, the
h100 profile's 768x512x121 bucket; stage 1 at 384x256: 6,144 video tokens). Guidance: TI2VidTwoStagesPipeline's
official LTX-2.3 values (ltx_pipelines.utils.constants.LTX_2_3_PARAMS: CFG 3 / 7, STG 1 on block 28, rescale
0.7, modality 3): four passes per step. Sigmas: the first `--steps` of LTX2Scheduler's 30-step schedule.
- official: ltx-pipelines' denoise_audio_video + euler_denoising_loop + multi_modal_guider_factory_denoising_func
  over X0Model(transformer): four transformer calls per step, eager, under inference_mode.
- ltx-trt: runtime.guided.GuidedStep over the guided4 graph (one call, batch 4, per step) through
  runtime.chain.BlockChain over a TorchExecutor (weights packed from the same in-memory transformer):
  eager; with runtime.capture.Captures (step 1 eager, the rest replayed from a CUDA graph); with
  --compiled, the block graph through torch.compile as well.
Rounds alternate official and ltx-trt modes; round 0 is a warm-up (compilation) and left out. A stage's
seconds are wall-clock between device synchronisations (capture included); per step = stage / steps.
The work of one guided step is counted once (torch.utils.flop_counter on an eager ltx-trt step: four
passes of matmuls and attention) and turned into TFLOP/s and a share of the chip's dense bf16 peak.
"""

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from gpu_distilled import SEED, make_setup  # noqa: F401  (installs the torchaudio placeholder first)
from gpu_timing import environment, free_cache, peak_bf16

from ltx_core.components.diffusion_steps import EulerDiffusionStep  # noqa: E402
from ltx_core.components.guiders import create_multimodal_guider_factory  # noqa: E402
from ltx_core.components.noisers import GaussianNoiser  # noqa: E402
from ltx_core.components.patchifiers import AudioPatchifier, VideoLatentPatchifier  # noqa: E402
from ltx_core.model.transformer import X0Model  # noqa: E402
from ltx_core.types import VideoPixelShape  # noqa: E402
from ltx_pipelines.utils.constants import LTX_2_3_PARAMS  # noqa: E402
from ltx_pipelines.utils.helpers import denoise_audio_video, multi_modal_guider_factory_denoising_func  # noqa: E402
from ltx_pipelines.utils.samplers import euler_denoising_loop  # noqa: E402
from ltx_pipelines.utils.types import PipelineComponents  # noqa: E402

from ltx_trt.core.plan import profile_graphs  # noqa: E402
from ltx_trt.model import transformer_parts  # noqa: E402
from ltx_trt.runtime import pipeline, rope, sampling  # noqa: E402
from ltx_trt.runtime.capture import Captures  # noqa: E402
from ltx_trt.runtime.chain import block_chain  # noqa: E402
from ltx_trt.runtime.executors.pytorch import TorchExecutor  # noqa: E402
from ltx_trt.runtime.guided import GuidedStep, Guiders  # noqa: E402
from ltx_trt.runtime.loop import denoise  # noqa: E402

PARAMS = (LTX_2_3_PARAMS.video_guider_params, LTX_2_3_PARAMS.audio_guider_params)


def contexts(setup) -> tuple[dict, dict]:
    """(positive, negative) contexts: the setup's fixed ones and a second seeded draw."""
    generator = torch.Generator(setup.device).manual_seed(2)
    negative = {m: torch.randn(c.shape, generator=generator, device=setup.device).to(c.dtype)
                for m, c in setup.contexts.items()}
    return setup.contexts, negative


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def run_official(setup, sigmas: tuple[float, ...]) -> tuple[float, list]:
    device, dtype, b = setup.device, setup.dtype, setup.bucket
    positive, negative = contexts(setup)
    factories = [create_multimodal_guider_factory(p, negative[m]) for p, m in zip(PARAMS, ("video", "audio"))]
    denoise_fn = multi_modal_guider_factory_denoising_func(*factories, positive["video"], positive["audio"],
                                                           X0Model(setup.models.transformer))

    def loop(s, video, audio, stepper):
        return euler_denoising_loop(s, video, audio, stepper, denoise_fn)

    shape = VideoPixelShape(batch=1, frames=b.frames, height=b.height // 2, width=b.width // 2, fps=b.fps)
    noiser = GaussianNoiser(torch.Generator(device).manual_seed(SEED))
    table = torch.tensor(sigmas, dtype=torch.float32, device=device)
    sync(device)
    start = time.perf_counter()
    with torch.inference_mode():
        video, audio = denoise_audio_video(shape, [], noiser, table, EulerDiffusionStep(), loop,
                                           PipelineComponents(dtype=dtype, device=device), dtype, device)
    sync(device)
    return time.perf_counter() - start, [VideoLatentPatchifier(1).patchify(video.latent),
                                         AudioPatchifier(1).patchify(audio.latent)]


def guided_parts(setup, graph, compiled: bool) -> dict:
    """The guided graph's part modules (weightless: kept across rounds, so compilation happens once)."""
    parts = transformer_parts.part_modules(setup.config, [graph])
    for key, module in parts.items():
        if compiled and ".block" in key:
            module.compile()
    return parts


def guided_chain(setup, graph, parts: dict):
    """A chain over `parts` with its own packed copy of the weights (the official transformer is on the host)."""
    chain = block_chain(TorchExecutor(parts), [graph], setup.layout,
                        transformer_parts.model_reader(setup.models.transformer), setup.dtype, setup.device)
    chain.store = chain.make_store()
    return chain


def run_ltx_trt(setup, graph, chain, sigmas, cuda_graphs: bool, flops: dict) -> tuple[float, list]:
    device = setup.device
    step = GuidedStep(graph, chain, sigmas, device, Guiders.of(*PARAMS))
    positive, negative = contexts(setup)
    for name, table in rope.rope_tables(rope.RopeConfig.from_config(setup.config), graph.grid, setup.bucket.fps,
                                        setup.dtype, device).items():
        step.inputs[name].copy_(table)
    step.set_contexts({f"{m}_context": c for m, c in positive.items()},
                      {f"{m}_context": c for m, c in negative.items()})
    if not flops:
        with FlopCounterMode(display=False) as mode:
            step.advance()
        flops["guided step"] = mode.get_total_flops()
        step.reset()
    capture = Captures(device, lambda line: None) if cuda_graphs else None
    sync(device)
    start = time.perf_counter()
    with torch.inference_mode():
        out = denoise(step, sampling.new_generator(SEED, device), {"video": None, "audio": None}, None, capture)
    sync(device)
    seconds = time.perf_counter() - start
    return seconds, [out["video"].clone(), out["audio"].clone()]


def rel_l2(a, b) -> float:
    a, b = a.float(), b.float()
    return ((a - b).norm() / b.norm()).item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--compiled", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    device = torch.device(args.device)
    env = environment(device)
    print(json.dumps(env), flush=True)
    setup = make_setup(args.tiny, device)
    graph = next(g for g in profile_graphs(setup.profile, setup.dims)
                 if g.key == f"transformer.{setup.bucket.name}.guided4")
    sigmas = sampling.scheduler_sigma_values(LTX_2_3_PARAMS.num_inference_steps)[: args.steps + 1]
    modes = [("ltx-trt eager", False, False)] + ([("ltx-trt cuda-graph", True, False)] if device.type == "cuda" else [])
    modes += [("ltx-trt cuda-graph, compiled blocks", device.type == "cuda", True)] if args.compiled else []
    parts = {name: guided_parts(setup, graph, compiled) for name, _, compiled in modes}
    seconds, agreement, flops = {}, {}, {}
    for rep in range(1 + args.reps):  # one copy of the weights on the GPU at a time (38 GiB in bf16)
        free_cache(device)
        setup.models.transformer.to(device)
        took, reference = run_official(setup, sigmas)
        print(f"rep {rep} official: {took:.3f} s", flush=True)
        setup.models.transformer.to("cpu")
        if rep:
            seconds.setdefault("official eager", []).append(took)
        for name, cuda_graphs, _ in modes:
            free_cache(device)
            chain = guided_chain(setup, graph, parts[name])
            took, ours = run_ltx_trt(setup, graph, chain, sigmas, cuda_graphs, flops)
            del chain
            print(f"rep {rep} {name}: {took:.3f} s", flush=True)
            if rep:
                seconds.setdefault(name, []).append(took)
            agreement[name] = {m: rel_l2(a, b) for m, a, b in zip(("video", "audio"), ours, reference)}
    peak = peak_bf16(device)
    rows = {}
    for name, values in seconds.items():
        per_step = statistics.median(values) / args.steps
        tflops = flops["guided step"] / per_step / 1e12
        rows[name] = {"stage_s": values, "step_ms": 1e3 * per_step, "tflop_s": tflops,
                      "share_of_peak": tflops * 1e12 / peak if peak else None}
    official = rows["official eager"]["step_ms"]
    print(f"| mode ({args.steps} guided steps, 4 passes, {setup.bucket.width // 2}x{setup.bucket.height // 2}x"
          f"{setup.bucket.frames}) | step ms | vs official | TFLOP/s | share of peak | stage s (min-max) |")
    print("|---|---|---|---|---|---|")
    for name, r in rows.items():
        share = f"{100 * r['share_of_peak']:.0f}%" if r["share_of_peak"] else "-"
        print(f"| {name} | {r['step_ms']:.1f} | {r['step_ms'] / official:.2f}x | {r['tflop_s']:.0f} | {share} | "
              f"{min(r['stage_s']):.2f}-{max(r['stage_s']):.2f} |")
    print("agreement (relative L2 vs official):", json.dumps(agreement))
    print(f"work per guided step: {flops['guided step'] / 1e12:.1f} TFLOP")
    if args.json:
        args.json.write_text(json.dumps({"environment": env, "steps": args.steps, "rows": rows, "flops": flops,
                                         "agreement": agreement, "bucket": dataclasses.asdict(setup.bucket),
                                         "peak_bf16": peak}, indent=1))


if __name__ == "__main__":
    main()
