"""Image conditioning's cost: the video VAE encoder at both stage sizes, and the whole conditioning step
(load, H.264 round trip, resize, encode, conditioning items) ltx-trt vs ltx-pipelines, on one set of weights.

    python benchmarks/gpu_image.py [--reps 5] [--json results.json]     # full size, CUDA (NOT YET RUN ON A GPU)
    python benchmarks/gpu_image.py --tiny --device cpu --reps 1         # dry run on a CPU

Weights: ltx-core's VideoEncoder of the LTX-2.3 22B config (or the tiny one), built on meta and drawn as seeded
random bf16 (benchmarks/gpu_distilled.py `materialize`). Both sides run the same module: the official side as
`combined_image_conditionings(..., video_encoder=encoder)`, ltx-trt's as runtime.conditioning.conditionings with
the encoder wrapped as its graph (model.decoder_graphs.VideoEncoderGraph) under a TorchExecutor, as `run
--executor torch` does. The image is a 1920x1080 PNG written once. Phases are wall-clock seconds between device
synchronisations (median of the reps, after one warm-up). The whole image-to-video clip vs the official pipeline
is gpu_distilled.py's job (it does not pass images yet).
"""

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gpu_distilled import materialize  # noqa: E402  (installs the torchaudio placeholder first)
from ltx_trt.core import shapes
from ltx_trt.core.conditioning import ImageCondition
from ltx_trt.core.profiles import Bucket, load_profile
from ltx_trt.model import components
from ltx_trt.model.decoder_graphs import VideoEncoderGraph
from ltx_trt.model.ltx23_config import full_config, tiny_config
from ltx_trt.runtime import conditioning
from ltx_trt.runtime.executors import allocate
from ltx_trt.runtime.executors.pytorch import TorchExecutor


def timed(run, device: torch.device, reps: int) -> float:
    """Median seconds of `run()` over `reps` calls, after one warm-up."""
    seconds = []
    for _ in range(reps + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny config and a 256x128x17 bucket (dry run)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    device, dtype = torch.device(args.device), torch.bfloat16
    from ltx_pipelines.utils.args import ImageConditioningInput
    from ltx_pipelines.utils.constants import DEFAULT_IMAGE_CRF
    from ltx_pipelines.utils.helpers import combined_image_conditionings

    config = tiny_config() if args.tiny else full_config()
    encoder = materialize(lambda: components.video_encoder(config), 3, device, dtype).eval()
    buckets = [Bucket("tiny", 256, 128, 17, 24)] if args.tiny else list(load_profile("h100").buckets)
    figures = {}
    with tempfile.TemporaryDirectory() as folder, torch.inference_mode():
        path = Path(folder) / "frame.png"
        rng = np.random.default_rng(0)
        Image.fromarray(rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8)).save(path)
        for bucket in buckets:
            for stage, grid in zip(("stage1", "stage2"), shapes.stage_grids(bucket)):
                graph_inputs, graph_outputs = shapes.video_encoder_specs(grid, "bfloat16")
                key = f"video_encoder.{bucket.name}.{stage}"
                executor = TorchExecutor({key: VideoEncoderGraph(encoder).eval()})
                image_in, latent_out = allocate(graph_inputs, device), allocate(graph_outputs, device)
                image_in["image"].uniform_(-1, 1)

                def encode(image, executor=executor, key=key, inputs=image_in, outputs=latent_out):
                    inputs["image"].copy_(image)
                    executor.run(key, inputs, outputs)
                    return outputs["image_latent"].clone()

                ours = lambda: conditioning.conditionings(  # noqa: E731
                    [ImageCondition(path, 0, 1.0, DEFAULT_IMAGE_CRF)], grid, encode, dtype, device)
                official = lambda: combined_image_conditionings(  # noqa: E731
                    [ImageConditioningInput(str(path), 0, 1.0, DEFAULT_IMAGE_CRF)], grid.height * 32, grid.width * 32,
                    encoder, dtype, device)
                encoder_only = lambda: executor.run(key, image_in, latent_out)  # noqa: E731
                row = {"encoder_s": timed(encoder_only, device, args.reps), "ltx_trt_s": timed(ours, device, args.reps),
                       "official_s": timed(official, device, args.reps)}
                figures[key] = row
                print(f"{key}: encoder {row['encoder_s'] * 1e3:.1f} ms; conditioning ltx-trt "
                      f"{row['ltx_trt_s'] * 1e3:.1f} ms, official {row['official_s'] * 1e3:.1f} ms")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
