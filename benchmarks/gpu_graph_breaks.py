"""Why torch.compile splits an FP8 block: dynamo's graph-break reasons for one full-width quantized block
on CUDA (the chain's PartGraph inner module, block 0's weights bound).

    python benchmarks/gpu_graph_breaks.py
"""

import torch

import gpu_fp8_profile as profile  # noqa: E402  (beside this script)
from ltx_trt.core import shapes
from ltx_trt.core.plan import transformer_graph
from ltx_trt.core.precision import recipe
from ltx_trt.model import transformer_parts
from ltx_trt.model.graph_modules import _bound
from ltx_trt.model.ltx23_config import full_config


def main() -> None:
    config = full_config()
    config = {**config, "transformer": {**config["transformer"], "num_layers": 1}}
    model = profile.base.materialize(lambda: profile.base.components.transformer(config), 0, torch.device("cpu"),
                                     torch.bfloat16)
    layout = transformer_parts.layout_from_config(config)
    weights = profile.base.dataclasses.replace(layout, quantization=recipe("fp8", 1, layout.linears()))
    dims = shapes.ModelDims(32, 128, 32, 64, 2048, 8, 0, weights)
    graph = transformer_graph(dims, shapes.latent_grid(768, 512, 121, 24), "p.stage2", {"transformer": "fp8"})
    part = graph.part("block_fp8")
    inputs = profile.block_inputs(config, part, model, torch.bfloat16)
    wrapper = transformer_parts.wrap_part(transformer_parts.meta_transformer(config), part)
    n = len(inputs) - len(wrapper.weight_names)
    with torch.no_grad(), _bound(wrapper.root, dict(zip(wrapper.weight_names, inputs[n:]))):
        explained = torch._dynamo.explain(wrapper.inner)(*inputs[:n])
    print("graph breaks:", explained.graph_break_count, "graphs:", explained.graph_count)
    for reason in explained.break_reasons[:8]:
        print("-", str(reason.reason)[:600])
        for frame in reason.user_stack[-4:]:
            print("    ", str(frame)[:240])


if __name__ == "__main__":
    main()
