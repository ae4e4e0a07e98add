"""Which graphs a (model, profile) pair needs: one per component and shape, with its tensor specs.

Export writes exactly the physical graphs' ONNX files, build-engines builds exactly their engines, and
run binds exactly these tensors. The transformer of each stage is one logical graph (what the
denoising step calls) made of physical parts: pre, one block graph per kind of block (plain, or with
its Linears quantized: run once per block of that kind with that block's weights), post; see
runtime/chain.py. Pure Python.
"""

import dataclasses
from dataclasses import dataclass

from ltx_trt.core import shapes
from ltx_trt.core.errors import UserError
from ltx_trt.core.precision import PRECISIONS, recipe
from ltx_trt.core.profiles import Bucket, Profile
from ltx_trt.core.shapes import WEIGHT_PREFIX, ChainWeights, ModelDims, TensorSpec

ACTIVATIONS = {name: p.activations for name, p in PRECISIONS.items()}  # precision -> activation dtype
# Batches of the guided stage-1 graphs (`<bucket>.guided<B>`: one row per guidance pass, all passes of a step in one
# call), the pass counts of the official dev defaults (ltx-pipelines 1.0.0): hq = conditional + negative +
# modality-isolated (STG scale 0), two-stage = conditional + negative + STG + modality-isolated. Stage 2 of the dev
# pipelines is unguided and runs the `<bucket>.stage2` graph; the distilled pipeline runs no guided graph.
GUIDED_BATCHES = (3, 4)


@dataclass(frozen=True)
class Graph:
    """One static-shape graph: component + variant (bucket and stage) + its I/O."""

    component: str
    variant: str  # "" for shape-independent components, else "<bucket>", "<bucket>.stage1" or "<bucket>.guided4"
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    precision: str  # the profile's precision for this component (core/precision.py)
    grid: shapes.Grid | None = None
    # the graphs that are exported and built in its place (pre, block and/or block_<format>, post); () = itself
    parts: tuple["Graph", ...] = ()
    weights: ChainWeights | None = None  # a chained graph's weight layout, quantization included

    @property
    def key(self) -> str:
        """File stem and manifest key, e.g. `transformer.768x512-5s.stage1`."""
        return f"{self.component}.{self.variant}" if self.variant else self.component

    @property
    def activations(self) -> tuple[TensorSpec, ...]:
        """The inputs a caller supplies: all but the `weight.*` ones that the runtime binds from a weight store."""
        return tuple(s for s in self.inputs if not s.name.startswith(WEIGHT_PREFIX))

    def part(self, name: str) -> "Graph":
        """The part graph `name` ("pre", "block", "block_fp8", "post") of a chained graph."""
        return next(p for p in self.parts if p.variant.rsplit(".", 1)[-1] == name)


def physical(graphs: list[Graph]) -> list[Graph]:
    """The graphs that exist as ONNX files and engines: each graph's parts, or the graph itself."""
    return [part for g in graphs for part in (g.parts or (g,))]


def chain_weights(layout: ChainWeights, precision: str, component: str) -> ChainWeights:
    """The layout a chained component's graphs take for `precision`: plain weights (a quantized file is then
    dequantized when packed), the file's own quantization, or for a bf16 file ltx-trt's recipe."""
    format = PRECISIONS[precision].format
    stored = layout.quantization
    if format is None:
        return dataclasses.replace(layout, quantization=None)
    if stored is None:
        return dataclasses.replace(layout, quantization=recipe(format, layout.blocks, layout.linears(), component))
    if stored.format != format:
        raise UserError(f"the {component} weights are stored in {stored.format}; the profile asks for {precision}",
                        f"use a bf16 checkpoint, or a profile (or --precision {component}={stored.format}) "
                        f"that runs {stored.format}")
    return layout


def transformer_graph(dims: ModelDims, grid: shapes.Grid, variant: str, precision: dict,
                      guided: int | None = None) -> Graph:
    """The logical transformer graph of one stage (what the step runs) and its parts; `guided`: the batch of a
    guided graph (shapes.transformer_specs), None: the batch-1 graph without perturbation masks."""
    dtype = ACTIVATIONS[precision["transformer"]]
    weights = chain_weights(dims.transformer, precision["transformer"], "transformer")
    parts = tuple(dataclasses.replace(_graph("transformer", f"{variant}.{part}", shapes.transformer_part_specs(
        dims, grid, dtype, part, weights, guided), precision, grid), weights=weights) for part in _part_names(weights))
    logical = _graph("transformer", variant, shapes.transformer_specs(dims, grid, dtype, guided), precision, grid)
    return dataclasses.replace(logical, parts=parts, weights=weights)


def keyframe_variant(bucket: str, keyframes: int) -> str:
    """The bucket part of a transformer variant for `keyframes` appended keyframe latent frames (0: the plain
    graphs): `transformer.<bucket>.keyframes2.stage1`; stage names stay last (stage-2 weights, part names)."""
    return f"{bucket}.keyframes{keyframes}" if keyframes else bucket


def guided_variant(bucket: str, batch: int) -> str:
    """The variant of a bucket's guided graph of `batch` rows: `transformer.<bucket>.guided<batch>` is its key."""
    return f"{bucket}.guided{batch}"


def text_encoder_graph(dims: ModelDims, precision: dict) -> Graph:
    """The logical text encoder graph (token ids -> stacked hidden states) and its parts."""
    dtype = ACTIVATIONS[precision["text_encoder"]]
    weights = chain_weights(dims.text_encoder, precision["text_encoder"], "text_encoder")
    parts = tuple(dataclasses.replace(_graph("text_encoder", part, shapes.text_encoder_part_specs(
        dims, dtype, part, weights), precision), weights=weights) for part in _part_names(weights))
    logical = _graph("text_encoder", "", shapes.text_encoder_specs(dims, dtype), precision)
    return dataclasses.replace(logical, parts=parts, weights=weights)


def _part_names(weights: ChainWeights) -> tuple[str, ...]:
    return ("pre", *weights.block_parts(), "post")


def _graph(component: str, variant: str, specs, precision: dict, grid=None) -> Graph:
    inputs, outputs = specs
    return Graph(component, variant, tuple(inputs), tuple(outputs), precision[component], grid)


def _whole(component: str, variant: str, specs, precision: dict, dims: ModelDims, grid=None) -> Graph:
    """A one-graph component (connector, upsampler, decoders): its activations, then its weights as inputs."""
    inputs, outputs = specs
    weights = shapes.weight_specs(dims.whole_weights(component), ACTIVATIONS[precision[component]])
    return _graph(component, variant, ([*inputs, *weights], outputs), precision, grid)


def stage_transformers(bucket: Bucket, dims: ModelDims, precision: dict, keyframes: int = 0) -> list[Graph]:
    """A bucket's transformer graphs (stage 1, stage 2, the guided stage 1s) for a video sequence with
    `keyframes` appended keyframe latent frames (ltx-core's VideoConditionByKeyframeIndex; 0: none)."""
    low, full = (dataclasses.replace(g, keyframes=keyframes) for g in shapes.stage_grids(bucket))
    name, p = keyframe_variant(bucket.name, keyframes), precision
    return [
        transformer_graph(dims, low, f"{name}.stage1", p),
        transformer_graph(dims, full, f"{name}.stage2", p),
        *(transformer_graph(dims, low, guided_variant(name, b), p, guided=b) for b in GUIDED_BATCHES),
    ]


def bucket_graphs(bucket: Bucket, dims: ModelDims, precision: dict, keyframes: int = 0) -> list[Graph]:
    """A bucket's graphs; `keyframes` > 0 adds the transformer graphs for that many appended keyframe frames."""
    low, full = shapes.stage_grids(bucket)
    d = {c: ACTIVATIONS[p] for c, p in precision.items()}
    name = bucket.name
    p = precision
    return [
        *stage_transformers(bucket, dims, p),
        *(stage_transformers(bucket, dims, p, keyframes) if keyframes else ()),
        _whole("upsampler", name, shapes.upsampler_specs(low, d["upsampler"]), p, dims, low),
        # image conditioning (ltx-pipelines' combined_image_conditionings): each stage encodes at its own size
        _whole("video_encoder", f"{name}.stage1", shapes.video_encoder_specs(low, d["video_encoder"]), p, dims, low),
        _whole("video_encoder", f"{name}.stage2", shapes.video_encoder_specs(full, d["video_encoder"]), p, dims, full),
        _whole("video_decoder", name, shapes.video_decoder_specs(full, d["video_decoder"]), p, dims, full),
        _whole("audio_decoder", name, shapes.audio_decoder_specs(full, d["audio_decoder"]), p, dims, full),
    ]


def profile_graphs(profile: Profile, dims: ModelDims) -> list[Graph]:
    precision = profile.precision
    d = {c: ACTIVATIONS[p] for c, p in precision.items()}
    graphs = [
        text_encoder_graph(dims, precision),
        _whole("connector", "", shapes.connector_specs(dims, d["connector"]), precision, dims),
    ]
    for bucket in profile.buckets:
        graphs += bucket_graphs(bucket, dims, precision, profile.keyframes)
    return graphs
