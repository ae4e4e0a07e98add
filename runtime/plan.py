"""Which graphs a (model, profile) pair needs: one per component and shape, with its tensor specs.

Export writes exactly these ONNX files, build-engines builds exactly these engines, and run binds
exactly these tensors. Pure Python.
"""

from dataclasses import dataclass

from ltx_trt.runtime import shapes
from ltx_trt.runtime.profiles import Bucket, Profile
from ltx_trt.runtime.shapes import ModelDims, TensorSpec

DTYPE_OF_PRECISION = {"bf16": "bfloat16", "fp32": "float32"}


@dataclass(frozen=True)
class Graph:
    """One static-shape graph: component + variant (bucket and stage) + its I/O."""

    component: str
    variant: str  # "" for shape-independent components, else "<bucket>" or "<bucket>.stage1"
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    precision: str  # the profile's precision for this component: "bf16" | "fp32"
    grid: shapes.Grid | None = None

    @property
    def key(self) -> str:
        """File stem and manifest key, e.g. `transformer.768x512-5s.stage1`."""
        return f"{self.component}.{self.variant}" if self.variant else self.component


def _graph(component: str, variant: str, specs, precision: dict, grid=None) -> Graph:
    inputs, outputs = specs
    return Graph(component, variant, tuple(inputs), tuple(outputs), precision[component], grid)


def bucket_graphs(bucket: Bucket, dims: ModelDims, precision: dict) -> list[Graph]:
    low, full = shapes.stage_grids(bucket)
    d = {c: DTYPE_OF_PRECISION[p] for c, p in precision.items()}
    name = bucket.name
    p = precision
    return [
        _graph("transformer", f"{name}.stage1", shapes.transformer_specs(dims, low, d["transformer"]), p, low),
        _graph("transformer", f"{name}.stage2", shapes.transformer_specs(dims, full, d["transformer"]), p, full),
        _graph("upsampler", name, shapes.upsampler_specs(low, d["upsampler"]), p, low),
        _graph("video_decoder", name, shapes.video_decoder_specs(full, d["video_decoder"]), p, full),
        _graph("audio_decoder", name, shapes.audio_decoder_specs(full, d["audio_decoder"]), p, full),
    ]


def profile_graphs(profile: Profile, dims: ModelDims) -> list[Graph]:
    precision = profile.precision
    d = {c: DTYPE_OF_PRECISION[p] for c, p in precision.items()}
    graphs = [
        _graph("text_encoder", "", shapes.text_encoder_specs(dims, d["text_encoder"]), precision),
        _graph("connector", "", shapes.connector_specs(dims, d["connector"]), precision),
    ]
    for bucket in profile.buckets:
        graphs += bucket_graphs(bucket, dims, precision)
    return graphs
