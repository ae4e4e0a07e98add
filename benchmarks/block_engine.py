"""One full-width transformer block as its own engine: export + TensorRT-RTX build, measured.

    python benchmarks/block_engine.py CHECKPOINT OUT_DIR [--gpu rtx4090] [--bucket 768x512-5s] [--stage 2]

The whole 22B transformer cannot be built into one engine on a 24 GB machine (BENCHMARKS.md); this
measures the other granularity: the LTX-2.3 transformer with `num_layers=1` (block 0 plus the top-level
AdaLN / patchify / output modules, 0.8 B parameters), weights memory-mapped from the full-size
checkpoint, exported by the project's exporter and built by the project's build code for the profile's
compute capability. Prints export and build seconds, peak RSS, engine size and the builder's memory report.
"""

import argparse
import resource
import time
from pathlib import Path

import torch

from ltx_trt.build_engines.backend import load_backend
from ltx_trt.build_engines.engine_build import BuildSettings, build_engine
from ltx_trt.export import onnx_export
from ltx_trt.model import components, transformer_graph
from ltx_trt.model.files import ModelFiles
from ltx_trt.model.loading import KEY_MAPS, KeyMap, key_mapping
from ltx_trt.model.weights import assign_from_file, parameters_on_meta
from ltx_trt.runtime.plan import profile_graphs
from ltx_trt.runtime.profiles import load_profile
from ltx_trt.runtime.source import ModelSource


def one_block(files: ModelFiles) -> torch.nn.Module:
    config = {**files.config, "transformer": {**files.config["transformer"], "num_layers": 1}}
    layers = files.config["transformer"]["num_layers"]
    full = KEY_MAPS["transformer"]
    keymap = KeyMap(full.prefixes, full.excluded + tuple(
        f"model.diffusion_model.transformer_blocks.{i}." for i in range(1, layers)))
    with parameters_on_meta():
        model = components.transformer(config)
    return assign_from_file(model, files.checkpoint, key_mapping(model, files.checkpoint.header, keymap),
                            torch.bfloat16)


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--gpu", default="rtx4090")
    parser.add_argument("--bucket", default="768x512-5s")
    parser.add_argument("--stage", type=int, default=2, choices=(1, 2))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    profile = load_profile(args.gpu)
    files = ModelFiles(ModelSource("block", args.checkpoint, args.checkpoint.parent / "gemma-3-12b-synthetic",
                                   args.checkpoint))
    key = f"transformer.{args.bucket}.stage{args.stage}"
    graph = next(g for g in profile_graphs(profile, files.dims) if g.key == key)
    t0 = time.perf_counter()
    model = one_block(files)
    wrapper = transformer_graph.wrap(model, graph)
    ir_model = onnx_export.trace(wrapper, transformer_graph.example_inputs(model, graph, seed=0), graph,
                                 transformer_graph.export_overrides)
    onnx_export.save(ir_model, wrapper, args.out, key)
    export_s, export_rss = time.perf_counter() - t0, peak_rss_gib()
    built = build_engine(load_backend(profile), args.out / f"{key}.onnx",
                         BuildSettings(profile.compute_capabilities, profile.memory.weight_streaming),
                         args.out / f"{key}.engine")
    params = sum(t.numel() for t in model.state_dict().values())
    print(f"| {key} | {params / 1e9:.3f} B | {export_s:.0f} s | {export_rss:.2f} GiB | {built.build_seconds:.0f} s "
          f"| {peak_rss_gib():.2f} GiB | {built.size_bytes / 1e9:.2f} GB | {built.memory.get('weights_bytes', 0) / 1e9:.2f} GB "
          f"| {built.memory.get('activation_bytes', 0) / 2**30:.2f} GiB |")


if __name__ == "__main__":
    main()
