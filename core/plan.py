"""Which graphs a (model, profile) pair needs: one per component and shape, with its tensor specs.

Export writes exactly the physical graphs' ONNX files, build-engines builds exactly their engines, and
run binds exactly these tensors. The transformer of each stage is one logical graph (what the
denoising step calls) made of three physical parts: pre, one block (run once per block with that
block's weights), post; see runtime/chain.py. Pure Python.
"""

from dataclasses import dataclass

from ltx_trt.core import shapes
from ltx_trt.core.components import PARTS
from ltx_trt.core.dtypes import PRECISION_DTYPE
from ltx_trt.core.profiles import Bucket, Profile
from ltx_trt.core.shapes import ModelDims, TensorSpec


@dataclass(frozen=True)
class Graph:
    """One static-shape graph: component + variant (bucket and stage) + its I/O."""

    component: str
    variant: str  # "" for shape-independent components, else "<bucket>" or "<bucket>.stage1"
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    precision: str  # the profile's precision for this component: "bf16" | "fp32"
    grid: shapes.Grid | None = None
    # the graphs that are exported and built in its place (transformer: pre, block, post); () = itself
    parts: tuple["Graph", ...] = ()

    @property
    def key(self) -> str:
        """File stem and manifest key, e.g. `transformer.768x512-5s.stage1`."""
        return f"{self.component}.{self.variant}" if self.variant else self.component


def physical(graphs: list[Graph]) -> list[Graph]:
    """The graphs that exist as ONNX files and engines: each graph's parts, or the graph itself."""
    return [part for g in graphs for part in (g.parts or (g,))]


def transformer_graph(dims: ModelDims, grid: shapes.Grid, variant: str, precision: dict) -> Graph:
    """The logical transformer graph of one stage (what the step runs) and its three parts."""
    dtype = PRECISION_DTYPE[precision["transformer"]]
    parts = tuple(_graph("transformer", f"{variant}.{part}", shapes.transformer_part_specs(dims, grid, dtype, part),
                         precision, grid) for part in PARTS)
    logical = _graph("transformer", variant, shapes.transformer_specs(dims, grid, dtype), precision, grid)
    return Graph(logical.component, variant, logical.inputs, logical.outputs, logical.precision, grid, parts)


def text_encoder_graph(dims: ModelDims, precision: dict) -> Graph:
    """The logical text encoder graph (token ids -> stacked hidden states) and its three parts."""
    dtype = PRECISION_DTYPE[precision["text_encoder"]]
    parts = tuple(_graph("text_encoder", part, shapes.text_encoder_part_specs(dims, dtype, part), precision)
                  for part in PARTS)
    logical = _graph("text_encoder", "", shapes.text_encoder_specs(dims, dtype), precision)
    return Graph(logical.component, "", logical.inputs, logical.outputs, logical.precision, None, parts)


def _graph(component: str, variant: str, specs, precision: dict, grid=None) -> Graph:
    inputs, outputs = specs
    return Graph(component, variant, tuple(inputs), tuple(outputs), precision[component], grid)


def bucket_graphs(bucket: Bucket, dims: ModelDims, precision: dict) -> list[Graph]:
    low, full = shapes.stage_grids(bucket)
    d = {c: PRECISION_DTYPE[p] for c, p in precision.items()}
    name = bucket.name
    p = precision
    return [
        transformer_graph(dims, low, f"{name}.stage1", p),
        transformer_graph(dims, full, f"{name}.stage2", p),
        _graph("upsampler", name, shapes.upsampler_specs(low, d["upsampler"]), p, low),
        _graph("video_decoder", name, shapes.video_decoder_specs(full, d["video_decoder"]), p, full),
        _graph("audio_decoder", name, shapes.audio_decoder_specs(full, d["audio_decoder"]), p, full),
    ]


def profile_graphs(profile: Profile, dims: ModelDims) -> list[Graph]:
    precision = profile.precision
    d = {c: PRECISION_DTYPE[p] for c, p in precision.items()}
    graphs = [
        text_encoder_graph(dims, precision),
        _graph("connector", "", shapes.connector_specs(dims, d["connector"]), precision),
    ]
    for bucket in profile.buckets:
        graphs += bucket_graphs(bucket, dims, precision)
    return graphs
