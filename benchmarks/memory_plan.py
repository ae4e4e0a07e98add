"""The weight-memory plan of each profile at full size: what stays on the GPU and what streams, per bucket.

    python benchmarks/memory_plan.py [--engines DIR]     # DIR: where build_precisions.py left artifacts-<profile>

Pure arithmetic over the plan (core.plan with the 22B config and Gemma-3-12B layouts), the weight stores'
packing (runtime.weight_store PackLayout, resident_blocks) and `run`'s budget (commands.memory
weight_budget: resident_gib minus the run's buffers and the executor's activation memory: the largest
builder report among the engines that run beside the weights when --engines has them, else
ENGINE_SCRATCH_GIB). Nothing is allocated. Prints a Markdown table.
"""

import argparse
import itertools
import json
from pathlib import Path

import torch

from ltx_trt.commands.memory import weight_budget
from ltx_trt.core.plan import GUIDED_BATCHES, physical, profile_graphs
from ltx_trt.core.profiles import load_profile
from ltx_trt.core.shapes import ModelDims
from ltx_trt.model import gemma_synthetic
from ltx_trt.model.ltx23_config import full_config
from ltx_trt.model.text_parts import layout_from_folder
from ltx_trt.model.transformer_parts import layout_from_config
from ltx_trt.runtime.pipeline import BucketGraphs
from ltx_trt.runtime.weight_store import PackLayout, resident_blocks

GIB = 2**30
DECODERS = ("video_decoder", "audio_decoder")
# stage 1's graph per pipeline: distilled's batch of one, the dev pipelines' batched guidance passes (two-stage: 4)
PIPELINE_GRAPHS = (("distilled", None), ("two-stage, hq", max(GUIDED_BATCHES)))


def dims() -> ModelDims:
    text, sliding = layout_from_folder(gemma_synthetic.gemma3_config(gemma_synthetic.full_text_config(),
                                                                     gemma_synthetic.FULL_VISION))
    return ModelDims(32, 128, 32, 64, 2048, 3840, 48, layout_from_config(full_config()), text, sliding)


def activation_bytes(engines: Path | None, profile, graphs) -> int | None:
    """The shared activation buffer the TensorRT executor reserves: the largest builder report."""
    if engines is None:
        return None
    folder = next((engines / f"artifacts-{profile.name}").glob(f"*/{profile.folder}/engines"), None)
    if folder is None:
        return None
    entries = json.loads((folder / "manifest.json").read_text())["engines"]
    sizes = [entries[g.key]["memory"]["activation_bytes"] for g in physical(graphs)
             if g.key in entries and g.component not in DECODERS]
    return max(sizes) if sizes else None


def store_plan(layout, budget: int | None) -> dict:
    packs = {part: PackLayout.of(layout.params(part), torch.bfloat16) for part in
             ("pre", "post", *layout.block_parts())}
    sizes = [packs[layout.part_of(i)].nbytes for i in range(layout.blocks)]
    fixed = packs["pre"].nbytes + packs["post"].nbytes
    resident = resident_blocks(sizes, fixed, budget)
    return {"total_gib": (fixed + sum(sizes)) / GIB, "resident": resident, "blocks": layout.blocks,
            "streamed_gb": sum(sizes[resident:]) / 1e9}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", type=Path)
    args = parser.parse_args()
    full = dims()
    print("| profile | bucket | pipelines | transformer (weights GiB) | resident / 48 | streamed GB per step | "
          "text encoder (GiB) | resident / 48 | budget GiB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in ("rtx3060", "rtx4090", "rtx5090", "h100"):
        profile = load_profile(name)
        for bucket, (pipelines, batch) in itertools.product(profile.buckets, PIPELINE_GRAPHS):
            graphs = BucketGraphs.select(profile_graphs(profile, full), bucket, batch).all()
            budget = weight_budget(profile, graphs, activation_bytes(args.engines, profile, graphs))
            transformer = store_plan(graphs[2].weights, budget)
            text = store_plan(graphs[0].weights, budget)
            print(f"| {name} | {bucket.name} | {pipelines} | {profile.precision['transformer']} "
                  f"({transformer['total_gib']:.1f}) | "
                  f"{transformer['resident']} | {transformer['streamed_gb']:.1f} | "
                  f"{profile.precision['text_encoder']} ({text['total_gib']:.1f}) | {text['resident']} | "
                  f"{'all' if budget is None else f'{budget / GIB:.1f}'} |")


if __name__ == "__main__":
    main()
