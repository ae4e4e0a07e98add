"""Clips per minute, issue #13 item 5: the Python API reused for N prompts vs N separate `ltx-trt run` processes
vs ltx-pipelines' DistilledPipeline object called N times, in one run of this script.

    python benchmarks/gpu_throughput.py --gpu h100 --checkpoint ltx-2.3-22b-distilled.safetensors \
        --gemma gemma-3-12b-it --executor torch [--clips 5] [--json out.json]
    python benchmarks/gpu_throughput.py --gpu rtx4090 --model tiny --artifacts artifacts --clips 2   # CPU dry run

--precision transformer=bf16 (repeatable) runs the ltx-trt sides in the official pipeline's precision.
--sides picks some of api,api-packing,processes,official (each side's figures are added to --json as it ends, so
sides may run in consecutive calls over the same files; api-packing is the API with the transformer's weights
packed per clip, as before they were kept); --image PNG conditions every clip of every side on that image at frame 0 (image-to-video: ltx-trt's `--image`, the official `images=[ImageConditioningInput(...)]`).

Every side renders the same N prompts (seeds 10, 11, ...) at the profile bucket --width/--height/--frames
(default 768x512x121) into a temporary folder. Reported: each clip's wall-clock seconds, the first clip's
(which pays the opening: executor, modules, kernels) and the steady-state clips' median, and clips per minute
over the whole series including the opening. The official side needs the real files (its Gemma loader builds
the 12B architecture): it is skipped with the tiny model, and says so.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROMPTS = ("a red fox runs through fresh snow, birdsong", "waves break on a rocky shore at dusk, gulls call",
           "rain on a tin roof, a kettle whistles", "a city street at night, neon signs hum, cars pass",
           "a campfire crackles under a starry sky, crickets")


def series(seconds: list[float]) -> dict:
    """First clip, steady-state median and clips per minute of one side's clip times (seconds each)."""
    rest = seconds[1:] or seconds
    return {"clips": len(seconds), "clip_seconds": [round(s, 2) for s in seconds], "first_s": round(seconds[0], 2),
            "steady_s": round(statistics.median(rest), 2), "clips_per_min": round(60 * len(seconds) / sum(seconds), 2)}


def api_side(args, folder: Path) -> dict:
    from ltx_trt.api import open_pipeline

    times, started = [], time.perf_counter()
    with open_pipeline(args.gpu, model=args.model, checkpoint=args.checkpoint, gemma=args.gemma,
                       artifacts=args.artifacts, executor=args.executor, precision=dict(args.precision),
                       log=lambda line: None) as pipe:
        for i in range(args.clips):
            pipe.generate(PROMPTS[i % len(PROMPTS)], output=folder / f"api-{i}.mp4", seed=10 + i, width=args.width,
                          height=args.height, frames=args.frames, images=(str(args.image),) if args.image else ())
            now = time.perf_counter()
            times.append(now - started)  # the first clip includes opening the pipeline
            started = now
        kept = pipe.session.kept.reused  # clips that ran on the previous clip's transformer weights
    return {**series(times), "clips_on_kept_weights": kept}


def api_packing_side(args, folder: Path) -> dict:
    """The API side with the transformer's weights packed for every clip, as before commands/keep.py kept them
    (its rule refuses every time): the other half of a side-by-side figure."""
    from unittest import mock

    from ltx_trt.commands import keep

    with mock.patch.object(keep, "keep_refusal", lambda *args: "the benchmark packs them per clip"):
        return api_side(args, folder)


def process_side(args, folder: Path) -> dict:
    model = ["--model", args.model] if args.model else ["--checkpoint", str(args.checkpoint), "--gemma", str(args.gemma)]
    times = []
    for i in range(args.clips):
        command = [sys.executable, "-m", "ltx_trt.cli", "run", "--gpu", args.gpu, *model, "--artifacts",
                   str(args.artifacts), "--executor", args.executor, "--prompt", PROMPTS[i % len(PROMPTS)], "--seed",
                   str(10 + i), "--width", str(args.width), "--height", str(args.height), "--frames", str(args.frames),
                   "--output", str(folder / f"run-{i}.mp4"), *[f"--precision={c}={p}" for c, p in args.precision], *(["--image", str(args.image)] if args.image else [])]
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return series(times)


def official_side(args, folder: Path) -> dict | str:
    if args.model == "tiny":
        return "skipped: ltx-pipelines' Gemma loader builds the 12B architecture, which the tiny Gemma is not"
    from ltx_trt.core.compat import install_torchaudio_placeholder

    install_torchaudio_placeholder()
    import torch
    from ltx_core.model.video_vae import TilingConfig, get_video_chunks_number
    from ltx_pipelines.distilled import DistilledPipeline
    from ltx_pipelines.utils.args import ImageConditioningInput
    from ltx_pipelines.utils.media_io import encode_video

    upsampler = next(Path(args.checkpoint).parent.glob("ltx-2.3-spatial-upscaler-x2-*.safetensors"))
    times, started = [], time.perf_counter()
    pipeline = DistilledPipeline(str(args.checkpoint), str(args.gemma), str(upsampler), loras=[])
    tiling = TilingConfig.default()
    images = [ImageConditioningInput(str(args.image), 0, 1.0)] if args.image else []
    for i in range(args.clips):
        with torch.inference_mode():  # as its main() runs it
            video, audio = pipeline(prompt=PROMPTS[i % len(PROMPTS)], seed=10 + i, height=args.height,
                                    width=args.width, num_frames=args.frames, frame_rate=24.0, images=images,
                                    tiling_config=tiling)
            encode_video(video=video, fps=24, audio=audio, output_path=str(folder / f"official-{i}.mp4"),
                         video_chunks_number=get_video_chunks_number(args.frames, tiling))
        now = time.perf_counter()
        times.append(now - started)
        started = now
    return series(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", required=True)
    parser.add_argument("--model", choices=["tiny"], default=None)
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--gemma", type=Path, default=None)
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    parser.add_argument("--executor", default="torch")
    parser.add_argument("--clips", type=int, default=5)
    parser.add_argument("--width", type=int, default=768)
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--frames", type=int, default=121)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--sides", default="api,processes,official")
    parser.add_argument("--image", type=Path, default=None)
    parser.add_argument("--precision", type=lambda text: tuple(text.split("=", 1)), action="append", default=[],
                        help="COMPONENT=PRECISION for the ltx-trt sides, as run's flag (the official side is bf16)")
    args = parser.parse_args()
    report = json.loads(args.json.read_text()) if args.json and args.json.is_file() else {}
    for side in args.sides.split(","):
        with tempfile.TemporaryDirectory() as folder:
            figures = SIDES[side](args, Path(folder))
        print(f"{side}: {figures}", flush=True)
        report[side + ("+image" if args.image else "")] = figures
        if args.json:
            args.json.write_text(json.dumps(report, indent=1))


SIDES = {"api": api_side, "api-packing": api_packing_side, "processes": process_side, "official": official_side}


if __name__ == "__main__":
    main()
