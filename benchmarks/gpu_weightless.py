"""What weights as graph inputs cost the one-graph components at run time (torch executor), one process.

    python benchmarks/gpu_weightless.py [--reps 5] [--json out.json]        # full size, CUDA
    python benchmarks/gpu_weightless.py --tiny --device cpu --reps 1       # dry run

The same module, seeded random bf16 weights of the 22B config (gpu_distilled.materialize), called two ways:
- embedded: the component's graph wrapper over the module (UpsamplerGraph, VideoEncoderGraph,
  VideoDecoderGraph, AudioDecoderGraph), weights held by the module, as the graphs were before issue #11;
- weightless: the same wrapper under model.graph_modules.PartGraph with every state_dict tensor passed as an
  input and swapped in for the call, which is what `run --executor torch` executes now
  (model/weight_inputs.py weights_as_inputs).
Inputs: random tensors of the h100 profile's 768x512x121 bucket graphs (stage 1 and stage 2 encoder sizes,
the upsampler at stage 1, the decoders at full size). Median seconds of `--reps` calls after one warm-up, device
synchronised around each. TensorRT's side of the cost (weights as engine inputs) cannot be measured here.
"""

import argparse
import json
from pathlib import Path

import torch

from gpu_distilled import TINY_BUCKET, build_models, materialize  # noqa: F401  (the torchaudio placeholder first)
from gpu_image import timed
from gpu_timing import environment

from ltx_trt.core import shapes  # noqa: E402
from ltx_trt.core.profiles import load_profile  # noqa: E402
from ltx_trt.model import components  # noqa: E402
from ltx_trt.model.decoder_graphs import (AudioDecoderGraph, UpsamplerGraph, VideoDecoderGraph,  # noqa: E402
                                          VideoEncoderGraph)
from ltx_trt.model.graph_modules import PartGraph, random_like_spec  # noqa: E402
from ltx_trt.model.ltx23_config import FULL_UPSAMPLER_CONFIG, TINY_UPSAMPLER_CONFIG, full_config, tiny_config  # noqa: E402


def cases(models, encoder, low, full):
    """(name, wrapper class, module, activation specs) per component graph."""
    return [("upsampler", UpsamplerGraph, models.upsampler, shapes.upsampler_specs(low, "bfloat16")[0]),
            ("video_encoder stage1", VideoEncoderGraph, encoder, shapes.video_encoder_specs(low, "bfloat16")[0]),
            ("video_encoder stage2", VideoEncoderGraph, encoder, shapes.video_encoder_specs(full, "bfloat16")[0]),
            ("video_decoder", VideoDecoderGraph, models.video_decoder, shapes.video_decoder_specs(full, "bfloat16")[0]),
            ("audio_decoder", AudioDecoderGraph, models.audio, shapes.audio_decoder_specs(full, "bfloat16")[0])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    device, dtype = torch.device(args.device), torch.bfloat16
    config, upsampler = (tiny_config(), TINY_UPSAMPLER_CONFIG) if args.tiny else (full_config(), FULL_UPSAMPLER_CONFIG)
    bucket = TINY_BUCKET if args.tiny else load_profile("h100").bucket(768, 512, 121)
    low, full = shapes.stage_grids(bucket)
    models = build_models(config, upsampler, device, dtype)
    del models.transformer
    encoder = materialize(lambda: components.video_encoder(config), 4, device, dtype)
    report = {"environment": environment(device), "bucket": bucket.name, "graphs": {}}
    generator = torch.Generator().manual_seed(0)
    for name, wrapper, module, specs in cases(models, encoder, low, full):
        inputs = [random_like_spec(spec, generator).to(device) for spec in specs]
        state = module.state_dict()
        embedded = wrapper(module).eval()
        weightless = PartGraph(wrapper(module).eval(), module, list(state))
        with torch.inference_mode():
            a = timed(lambda: embedded(*inputs), device, args.reps)
            b = timed(lambda: weightless(*inputs, *state.values()), device, args.reps)
        report["graphs"][name] = {"tensors": len(state), "embedded_s": a, "weightless_s": b}
        print(f"{name}: {len(state)} weight inputs; embedded {a * 1e3:.1f} ms, weightless {b * 1e3:.1f} ms "
              f"({b / a:.3f}x)", flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
