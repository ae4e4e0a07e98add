"""The dev pipelines, whole clip: ltx-trt's two-stage / hq vs ltx-pipelines' own pipeline objects, one process.

    python benchmarks/gpu_dev.py [--pipeline two-stage --pipeline hq] [--steps N] [--lora-rank 384] [--json out.json]
    python benchmarks/gpu_dev.py --tiny --device cpu --steps 2 --lora-rank 4                            # dry run

Weights, shapes and stand-ins as gpu_distilled.py (make_setup: the 22B config as seeded random bf16 on the
device, the h100 profile's 768x512x121 bucket, every component bf16, fixed random text contexts: the
negative prompt's contexts are the same tensors on both sides; text encoding is not measured).
- official: TI2VidTwoStagesPipeline / TI2VidTwoStagesHQPipeline.__call__ on an instance whose two model
  ledgers hand out the in-memory modules (both stages the same transformer: the distilled LoRA is not merged on
  either side of the timed runs), official guidance (LTX_2_3_PARAMS / LTX_2_3_HQ_PARAMS), the official step
  counts unless --steps, TilingConfig.default() as their main() decodes.
- ltx-trt: runtime.pipeline.generate(guidance=...) as `run --pipeline` calls it: the guided graph of the
  pipeline's pass count over runtime.chain.BlockChain on a TorchExecutor (weights packed from the same
  in-memory transformer), CUDA-graph capture where the capture rule says it repays (run's default on a GPU).
Each pipeline: a warm-up of both sides with 2 steps, then one measured run of each with the full step count;
the official transformer goes to host memory while ltx-trt's chain holds its own packed copy. Phases are
wall-clock seconds between device synchronisations with each phase's peak torch.cuda memory (Timeline).
LoRA: a synthetic rank-`--lora-rank` LoRA on every transformer Linear (the official distilled LoRA's size at
384) written to disk, then the chain's weight store packed with and without it merged (model.lora on the GPU).
"""

import argparse
import contextlib
import dataclasses
import json
import tempfile
import time
import types
from pathlib import Path
from unittest import mock

import torch

from gpu_distilled import SEED, ltx_trt_chain, make_setup  # noqa: F401  (installs the torchaudio placeholder first)
from gpu_official import InMemoryLedger
from gpu_timing import Clock, Timeline, environment, free_cache, phase

from ltx_core.model.video_vae import TilingConfig  # noqa: E402
from ltx_pipelines import ti2vid_two_stages, ti2vid_two_stages_hq  # noqa: E402
from ltx_pipelines.utils.constants import LTX_2_3_HQ_PARAMS, LTX_2_3_PARAMS  # noqa: E402
from ltx_pipelines.utils.types import PipelineComponents  # noqa: E402

from ltx_trt.commands.run import guided_batch  # noqa: E402
from ltx_trt.core import shapes  # noqa: E402
from ltx_trt.core.pipelines import LoraSpec  # noqa: E402
from ltx_trt.core.plan import profile_graphs  # noqa: E402
from ltx_trt.core.profiles import load_profile  # noqa: E402
from ltx_trt.model import lora, synthetic, transformer_parts  # noqa: E402
from ltx_trt.runtime import hq, media, pipeline, sampling  # noqa: E402
from ltx_trt.runtime.guided import Guiders  # noqa: E402

OFFICIAL = {"two-stage": (ti2vid_two_stages, "TI2VidTwoStagesPipeline", LTX_2_3_PARAMS),
            "hq": (ti2vid_two_stages_hq, "TI2VidTwoStagesHQPipeline", LTX_2_3_HQ_PARAMS)}
STAGES = ("stage 1", "stage 2")


def official_steps(name: str) -> int:
    return OFFICIAL[name][2].num_inference_steps


def run_official(setup, name: str, steps: int) -> dict:
    """The official pipeline object's __call__ on the in-memory modules; phases and stage latents."""
    module, cls, params = OFFICIAL[name]
    device, bucket = setup.device, setup.bucket
    timeline, latents = Timeline(device), []
    pipe = getattr(module, cls).__new__(getattr(module, cls))
    ledger = InMemoryLedger(setup.models)
    pipe.device, pipe.dtype, pipe.stage_1_model_ledger, pipe.stage_2_model_ledger = device, torch.bfloat16, ledger, ledger
    pipe.pipeline_components = PipelineComponents(dtype=torch.bfloat16, device=device)
    context = types.SimpleNamespace(video_encoding=setup.contexts["video"], audio_encoding=setup.contexts["audio"])
    keep = lambda out: latents.append([s.latent.clone() for s in out]) or out  # noqa: E731
    with contextlib.ExitStack() as stack:
        patch = lambda attr, new: stack.enter_context(mock.patch.object(module, attr, new))  # noqa: E731
        patch("encode_prompts", lambda prompts, *args, **kwargs: [context, context])
        patch("denoise_audio_video", phase(timeline, module.denoise_audio_video, STAGES, keep=keep))
        patch("upsample_video", phase(timeline, module.upsample_video, ["upsample"]))
        patch("vae_decode_video", phase(timeline, module.vae_decode_video, ["video decode"], keep=list))
        patch("vae_decode_audio", phase(timeline, module.vae_decode_audio, ["audio decode"]))
        if device.type != "cuda":  # dry run only: __call__ synchronises CUDA directly
            stack.enter_context(mock.patch.object(torch.cuda, "synchronize", lambda *a: None))
            patch("cleanup_memory", lambda: None)
        timeline.mark("setup")
        with torch.inference_mode():
            pipe(prompt="unused", negative_prompt="unused", seed=SEED, height=bucket.height, width=bucket.width,
                 num_frames=bucket.frames, frame_rate=float(bucket.fps), num_inference_steps=steps,
                 video_guider_params=params.video_guider_params, audio_guider_params=params.audio_guider_params,
                 images=[], tiling_config=TilingConfig.default())
        timeline.mark(None)
    return {"phases": timeline.totals(), "latents": [t for stage in latents for t in stage]}


def guidance_of(setup, name: str, steps: int) -> pipeline.Guidance:
    """What `run --pipeline name` builds: the official guiders, the sigmas, the sampler."""
    params = OFFICIAL[name][2]
    guiders = Guiders.of(params.video_guider_params, params.audio_guider_params)
    tokens = {"input_ids": torch.zeros(1, shapes.CONTEXT_TOKENS, dtype=torch.int64),
              "attention_mask": torch.ones(1, shapes.CONTEXT_TOKENS, dtype=torch.int64)}
    if name == "hq":
        return pipeline.Guidance(guiders, tokens, hq.stage1_sigma_values(steps, setup.graphs.first.grid), "res2s")
    return pipeline.Guidance(guiders, tokens, sampling.scheduler_sigma_values(steps))


def run_ltx_trt(setup, chain, guidance: pipeline.Guidance, release: bool = False) -> dict:
    """runtime.pipeline.generate() with the dev pipeline's guidance; phases and stage latents (5-D, as official).
    `release`: as `run` does, each graph (the transformer with its weights) released after its stage."""
    device, graphs = setup.device, setup.graphs
    timeline, latents = Timeline(device), []
    stage = "res2s_denoise" if guidance.sampler == "res2s" else "denoise"

    def keep(out):
        grid = next(g for g in (graphs.first.grid, graphs.stage2.grid) if g.video_tokens == out["video"].shape[1])
        latents.extend(_official_layout(out, grid))
        return out

    tokens = dict(guidance.negative_tokens)
    with contextlib.ExitStack() as stack:
        patch = lambda name, new, where=pipeline: stack.enter_context(mock.patch.object(where, name, new))  # noqa: E731
        patch(stage, phase(timeline, getattr(pipeline, stage), STAGES, keep=keep))
        patch("_upsample", phase(timeline, pipeline._upsample, ["upsample"]))
        patch("_decode_video", phase(timeline, pipeline._decode_video, ["video decode"]))
        patch("_decode_audio", phase(timeline, pipeline._decode_audio, ["audio decode"]))
        patch("write_mp4", lambda path, *args: path, where=media)
        timeline.mark("setup")
        try:
            pipeline.generate(tokens, SEED, Path("unused.mp4"), graphs=graphs, bucket=setup.bucket,
                              config=setup.config, executor=chain, device=device,
                              cuda_graphs=device.type == "cuda", release=release, guidance=guidance)
        except torch.OutOfMemoryError as error:  # recorded: the phases so far, and where it ran out
            failed = f"{timeline.label}: {str(error).splitlines()[0]}"
            print(f"out of memory in {failed}", flush=True)
            timeline.mark(None)
            return {"phases": {**timeline.totals(), "out of memory": failed}, "latents": latents}
        timeline.mark(None)
    return {"phases": timeline.totals(), "latents": latents}


def _official_layout(out: dict, grid) -> list[torch.Tensor]:
    from ltx_core.components.patchifiers import AudioPatchifier, VideoLatentPatchifier
    from ltx_core.types import AudioLatentShape, VideoLatentShape

    video = VideoLatentPatchifier(1).unpatchify(out["video"], output_shape=VideoLatentShape(
        1, 128, grid.frames, grid.height, grid.width))
    audio = AudioPatchifier(1).unpatchify(out["audio"], output_shape=AudioLatentShape(1, 8, grid.audio_tokens, 16))
    return [video.clone(), audio.clone()]


def compare(ours: list[torch.Tensor], theirs: list[torch.Tensor]) -> dict:
    names = ["stage-1 video", "stage-1 audio", "stage-2 video", "stage-2 audio"]
    out = {}
    for name, a, b in zip(names, ours, theirs):
        a, b = a.float(), b.float()
        out[name] = {"equal": bool(torch.equal(a, b)), "rel_l2": ((a - b).norm() / b.norm()).item()}
    return out


def one_pipeline(setup, name: str, steps: int, compiled: bool, warm_up: bool = True, release: bool = False) -> dict:
    """Warm-up (2 steps) then one measured run of each side; returns phases, agreement, packing."""
    batch = guided_batch(len(Guiders.of(OFFICIAL[name][2].video_guider_params,
                                        OFFICIAL[name][2].audio_guider_params).passes()))
    setup.graphs = pipeline.BucketGraphs.select(profile_graphs(setup.profile, setup.dims), setup.bucket, batch)
    result = {"steps": steps, "guided_batch": batch}
    for label, count in (("warm-up", 2), ("measured", steps))[0 if warm_up else 1:]:
        free_cache(setup.device)
        setup.models.transformer.to(setup.device)
        official = run_official(setup, name, count)
        setup.models.transformer.to("cpu")
        free_cache(setup.device)
        start = time.perf_counter()
        chain = ltx_trt_chain(setup, None, compiled)
        chain.store = chain.make_store()
        pack_s = time.perf_counter() - start
        ours = run_ltx_trt(setup, chain, guidance_of(setup, name, count), release)
        del chain
        print(f"{name} {label}: official {official['phases']['total']['s']:.2f} s, "
              f"ltx-trt {ours['phases']['total']['s']:.2f} s (+ {pack_s:.1f} s packing)", flush=True)
        result[label] = {"official": official["phases"], "ltx-trt": ours["phases"], "pack_s": pack_s,
                         "agreement": compare(ours["latents"], official["latents"])}
    return result


def lora_packing(setup, rank: int, folder: Path) -> dict:
    """The weight store packed from the in-memory transformer without and with a rank-`rank` LoRA merged."""
    path = folder / f"lora-r{rank}.safetensors"
    start = time.perf_counter()
    synthetic.write_lora(path, setup.config, rank=rank, seed=5)
    write_s = time.perf_counter() - start
    out = {"rank": rank, "file_gb": path.stat().st_size / 1e9, "write_s": write_s}
    read = transformer_parts.model_reader(setup.models.transformer)
    for label, loras in (("no LoRA", []), ("LoRA", [LoraSpec(path, 1.0)])):
        free_cache(setup.device)
        merge = lora.lora_reader(read, loras, setup.layout, dtype=setup.dtype, device=setup.device)
        with mock.patch.object(transformer_parts, "model_reader", lambda model: merge):
            start = time.perf_counter()
            chain = ltx_trt_chain(setup, None, False)
            chain.store = chain.make_store()
            if setup.device.type == "cuda":
                torch.cuda.synchronize()
            out[label] = {"pack_s": time.perf_counter() - start, "report": merge.report()}
        del chain
        print(f"packing, {label}: {out[label]}", flush=True)
    path.unlink()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny config and a 256x128x17 bucket (dry run)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--pipeline", action="append", choices=sorted(OFFICIAL), help="default: both")
    parser.add_argument("--steps", type=int, help="stage-1 steps (default: the official count per pipeline)")
    parser.add_argument("--compiled", action="store_true", help="ltx-trt's block graphs through torch.compile")
    parser.add_argument("--lora-rank", type=int, default=384, help="0: skip the LoRA packing measurement")
    parser.add_argument("--big-steps", type=int, default=0, help="also hq at 1920x1088x241 (no warm-up) with "
                        "this many stage-1 steps (0: skip)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    device = torch.device(args.device)
    report = {"environment": environment(device)}
    print(json.dumps(report["environment"]), flush=True)
    setup = make_setup(args.tiny, device)
    setup.models.transformer.to("cpu")
    setup.profile_all = load_profile("h100")
    report["bucket"] = dataclasses.asdict(setup.bucket)
    names = list(args.pipeline or ([] if args.big_steps else ["two-stage", "hq"]))
    for name in list(names):
        report[name] = one_pipeline(setup, name, args.steps or official_steps(name), args.compiled)
        if args.json:
            args.json.write_text(json.dumps(report, indent=1))
    if args.big_steps:  # the hq recipe's shape: stage 1 at 960x544 for a few steps, stage 2 whole (3 steps)
        big = setup.profile_all.bucket(1920, 1088, 241)
        setup.bucket, setup.profile = big, dataclasses.replace(setup.profile, buckets=(big,))
        report["hq 1920x1088x241"] = one_pipeline(setup, "hq", args.big_steps, args.compiled, warm_up=False,
                                                   release=True)  # the untiled decoder needs the weights gone
        names.append("hq 1920x1088x241")
        if args.json:
            args.json.write_text(json.dumps(report, indent=1))
    if args.lora_rank:
        with tempfile.TemporaryDirectory(dir=args.json.parent if args.json else None) as folder:
            report["lora"] = lora_packing(setup, args.lora_rank, Path(folder))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    for name in names:
        measured = report[name]["measured"]
        print(f"\n## {name}, {report[name]['steps']} steps, guided batch {report[name]['guided_batch']}")
        print("| phase | official s (peak GiB) | ltx-trt s (peak GiB) |\n|---|---|---|")
        for label in dict.fromkeys([*measured["official"], *measured["ltx-trt"]]):
            cells = [f"{p['s']:.3f} ({p['peak_gib']:.1f})" if isinstance(p := measured[side].get(label), dict)
                     else str(p or "-")
                     for side in ("official", "ltx-trt")]
            print(f"| {label} | {cells[0]} | {cells[1]} |")
        print(json.dumps(measured["agreement"]))


if __name__ == "__main__":
    main()
