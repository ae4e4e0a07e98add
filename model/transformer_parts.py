"""The LTX-2.3 transformer as three plain-tensor parts whose parameters are inputs: pre, block, post.

pre runs ltx-core's two args preprocessors (patchify + the AdaLN embeddings of the timesteps and
sigmas); block runs one ltx-core transformer block (all 48 share its graph: the runtime binds block
i's weights; a guided graph's block also takes which attention each batch row skips, as a tensor);
post runs ltx-core's output head. Chained (runtime/chain.py) they compute what the
whole model computes. Parameters are graph inputs bound for the call (graph_modules.PartGraph), so an
exported part holds no weight at all: engines stay small and build in seconds whatever the model size, and one
copy of the weights (the checkpoint) serves every bucket and stage. DESIGN.md says why.
Imports torch and ltx-core; of ltx_trt, imports core only.
"""

import contextlib
from typing import Callable

import torch
from ltx_core.guidance.perturbations import BatchedPerturbationConfig, PerturbationType
from ltx_core.model.transformer.attention import AttentionFunction, PytorchAttention
from ltx_core.model.transformer.modality import Modality
from ltx_core.model.transformer.transformer_args import TransformerArgs

from ltx_trt.core.checkpoint import Header
from ltx_trt.core.components import MODALITIES
from ltx_trt.core.plan import Graph
from ltx_trt.core.precision import Quantization
from ltx_trt.core.shapes import PERTURBATIONS, WEIGHT_PREFIX, ChainWeights
from ltx_trt.model import components
from ltx_trt.model.graph_modules import PartGraph
from ltx_trt.model.loading import KEY_MAPS, key_mapping
from ltx_trt.model.quant_linear import quantized_block
from ltx_trt.model.weights import parameters_on_meta

_POST = ("scale_shift_table", "audio_scale_shift_table", "norm_out.", "audio_norm_out.", "proj_out.",
         "audio_proj_out.")


def _is_post(name: str) -> bool:
    return name in _POST[:2] or name.startswith(_POST[2:])


def weight_layout(model: torch.nn.Module) -> ChainWeights:
    """Names and shapes of the parameters of each part (from a model on any device, meta included)."""
    blocks = model.transformer_blocks
    block = tuple((n, tuple(p.shape)) for n, p in blocks[0].named_parameters())
    for i, other in enumerate(blocks):
        if tuple((n, tuple(p.shape)) for n, p in other.named_parameters()) != block:
            raise ValueError(f"transformer block {i} differs from block 0: blocks cannot share one graph")
    top = [(n, tuple(p.shape)) for n, p in model.named_parameters() if not n.startswith("transformer_blocks.")]
    return ChainWeights(len(blocks), tuple(x for x in top if not _is_post(x[0])), block,
                              tuple(x for x in top if _is_post(x[0])))


def layout_from_config(config: dict) -> ChainWeights:
    """The weight layout of the transformer a checkpoint config describes (built on meta, no weights)."""
    with parameters_on_meta():
        model = components.transformer(config)
    return weight_layout(model)


def part_parameters(model: torch.nn.Module, part: str, block: int = 0) -> dict[str, torch.Tensor]:
    """A part's parameters from a loaded model, by the part's own names (what the graph's weight inputs are)."""
    if part.startswith("block"):
        return dict(model.transformer_blocks[block].named_parameters())
    top = {n: p for n, p in model.named_parameters() if not n.startswith("transformer_blocks.")}
    return {n: p for n, p in top.items() if _is_post(n) == (part == "post")}


class _Pre(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.m = model
        for pre in (model.video_args_preprocessor, model.audio_args_preprocessor):
            if pre.simple_preprocessor.caption_projection is not None:
                raise ValueError("this checkpoint projects the caption inside the transformer: the pre part "
                                 "would have to output the contexts, which it does not")

    def forward(self, video_tokens, audio_tokens, video_timesteps, audio_timesteps, video_sigma, audio_sigma):
        m = self.m
        # positions and contexts only feed the RoPE tables and a no-op view: the block takes both as inputs
        video = Modality(latent=video_tokens, sigma=video_sigma, timesteps=video_timesteps, positions=video_tokens,
                         context=None)
        audio = Modality(latent=audio_tokens, sigma=audio_sigma, timesteps=audio_timesteps, positions=audio_tokens,
                         context=None)
        with _without_tables_and_contexts(m):
            args = {"video": m.video_args_preprocessor.prepare(video, audio),
                    "audio": m.audio_args_preprocessor.prepare(audio, video)}
        hidden = [args[k].x for k in MODALITIES]
        ada = [t for k in MODALITIES for t in (args[k].timesteps, args[k].prompt_timestep,
                                               args[k].cross_scale_shift_timestep, args[k].cross_gate_timestep)]
        return (*hidden, *ada, *[args[k].embedded_timestep for k in MODALITIES])


@contextlib.contextmanager
def _without_tables_and_contexts(model):
    simples = [p.simple_preprocessor for p in (model.video_args_preprocessor, model.audio_args_preprocessor)]
    for simple in simples:
        simple._prepare_positional_embeddings = lambda **_: None
        simple._prepare_context = lambda context, x: None
    try:
        yield
    finally:
        for simple in simples:
            del simple._prepare_positional_embeddings, simple._prepare_context


class _Block(torch.nn.Module):
    def __init__(self, block: torch.nn.Module) -> None:
        super().__init__()
        self.block = block

    def forward(self, video_hidden, audio_hidden, v_ada, v_prompt, v_cross_ss, v_cross_gate, a_ada, a_prompt,
                a_cross_ss, a_cross_gate, video_context, audio_context, v_cos, v_sin, a_cos, a_sin, vx_cos, vx_sin,
                ax_cos, ax_sin):
        return _run_block(self.block, BatchedPerturbationConfig.empty(1), video_hidden, audio_hidden, v_ada, v_prompt,
                          v_cross_ss, v_cross_gate, a_ada, a_prompt, a_cross_ss, a_cross_gate, video_context,
                          audio_context, v_cos, v_sin, a_cos, a_sin, vx_cos, vx_sin, ax_cos, ax_sin)


class TensorPerturbations:
    """ltx-core's BatchedPerturbationConfig as its transformer block uses it, answered from a graph input:
    `mask` (len(PERTURBATIONS), batch), 0 where a row skips that attention (in the block it is fed to).

    Every question about the batch answers "some rows, not all", so the block always takes ltx-core's own
    per-row path (`out * mask + v * (1 - mask)` in self-attention, `* mask` on the A<->V cross-attention):
    a row of ones is the plain block, a zero is that row's perturbed pass, whatever the mask holds at run time.
    """

    def __init__(self, mask: torch.Tensor) -> None:
        self.mask = mask

    def mask_like(self, perturbation_type: PerturbationType, block: int, values: torch.Tensor) -> torch.Tensor:
        row = self.mask[PERTURBATIONS.index(perturbation_type.value)]  # (batch,)
        return row.to(values.dtype).view(row.shape[0], *([1] * (values.ndim - 1)))

    def any_in_batch(self, perturbation_type: PerturbationType, block: int) -> bool:
        return True

    def all_in_batch(self, perturbation_type: PerturbationType, block: int) -> bool:
        return False


class _GuidedBlock(_Block):
    """The block of a guided graph: _Block's inputs at batch B, then `perturbation_mask` (4, B). The RoPE tables
    (the last eight activations) arrive at batch 1 and are expanded here: ltx-core's split RoPE reshapes the
    queries by the table's batch."""

    def forward(self, *inputs):
        *activations, perturbation_mask = inputs
        batch = activations[0].shape[0]
        tables = [t.expand(batch, *t.shape[1:]) for t in activations[-8:]]
        return _run_block(self.block, TensorPerturbations(perturbation_mask), *activations[:-8], *tables)


def _run_block(block, perturbations, video_hidden, audio_hidden, v_ada, v_prompt, v_cross_ss, v_cross_gate, a_ada,
               a_prompt, a_cross_ss, a_cross_gate, video_context, audio_context, v_cos, v_sin, a_cos, a_sin, vx_cos,
               vx_sin, ax_cos, ax_sin):
    video = _args(video_hidden, video_context, v_ada, v_prompt, v_cross_ss, v_cross_gate, (v_cos, v_sin),
                  (vx_cos, vx_sin))
    audio = _args(audio_hidden, audio_context, a_ada, a_prompt, a_cross_ss, a_cross_gate, (a_cos, a_sin),
                  (ax_cos, ax_sin))
    video, audio = block(video=video, audio=audio, perturbations=perturbations)
    return video.x, audio.x


def _args(x, context, ada, prompt, cross_ss, cross_gate, rope, cross_rope) -> TransformerArgs:
    return TransformerArgs(x=x, context=context, context_mask=None, timesteps=ada, embedded_timestep=None,
                           positional_embeddings=rope, cross_positional_embeddings=cross_rope,
                           cross_scale_shift_timestep=cross_ss, cross_gate_timestep=cross_gate, enabled=True,
                           prompt_timestep=prompt, self_attention_mask=None)


class _Post(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.m = model

    def forward(self, video_hidden, audio_hidden, video_embedded, audio_embedded):
        m = self.m
        return (m._process_output(m.scale_shift_table, m.norm_out, m.proj_out, video_hidden, video_embedded),
                m._process_output(m.audio_scale_shift_table, m.audio_norm_out, m.audio_proj_out, audio_hidden,
                                  audio_embedded))


def part_of(graph: Graph) -> str:
    return graph.variant.rsplit(".", 1)[-1]


def wrap_part(model: torch.nn.Module, graph: Graph) -> PartGraph:
    """The PartGraph of a physical transformer graph (variant `<bucket>.<stage>.<part>`)."""
    part = part_of(graph)
    names = [s.name[len(WEIGHT_PREFIX):] for s in graph.inputs if s.name.startswith(WEIGHT_PREFIX)]
    if part.startswith("block"):
        block = model.transformer_blocks[0]
        if part != "block":  # its Linears quantized: a copy of the skeleton block with QuantLinears
            block = quantized_block(block, graph.weights.quantization)
        guided = any(s.name == "perturbation_mask" for s in graph.inputs)
        return PartGraph((_GuidedBlock if guided else _Block)(block), block, names).eval()
    return PartGraph(_Pre(model) if part == "pre" else _Post(model), model, names).eval()


def meta_transformer(config: dict) -> torch.nn.Module:
    """The ltx-core transformer with every parameter on the meta device: enough to run the parts."""
    with parameters_on_meta():
        model = components.transformer(config).eval()
    for module in model.modules():  # ltx-core calls attention through an Enum member, which torch.compile
        if getattr(module, "attention_function", None) is AttentionFunction.PYTORCH:  # cannot trace (a graph
            module.attention_function = PytorchAttention()  # break per attention): the member's own delegate
    return model


def check_checkpoint(header: Header, config: dict, stored: Quantization | None) -> None:
    """Refuse, from the header alone, a checkpoint whose transformer tensors are not exactly those the chained
    parts bind (names, shapes, dtypes): export's strict key map (loading.key_mapping), on a model on meta."""
    with parameters_on_meta():
        model = components.transformer(config)
    key_mapping(model, header, KEY_MAPS["transformer"], stored)


def checkpoint_reader(checkpoint) -> Callable[[str, int, str], torch.Tensor]:
    """(part, block, name) -> the parameter's tensor, memory-mapped from the checkpoint (runtime/weight_store.py)."""
    keymap = KEY_MAPS["transformer"]

    def read(part: str, block: int, name: str) -> torch.Tensor:
        return checkpoint.tensor(keymap.file_key(f"transformer_blocks.{block}.{name}" if part.startswith("block") else name))

    return read


def model_reader(model: torch.nn.Module) -> Callable[[str, int, str], torch.Tensor]:
    """(part, block, name) -> the parameter of a loaded ltx-core transformer (tests, benchmarks)."""
    return lambda part, block, name: model.get_parameter(
        f"transformer_blocks.{block}.{name}" if part.startswith("block") else name)


def part_modules(config: dict, graphs: list[Graph]) -> dict[str, PartGraph]:
    """The torch executor's modules for the parts of logical transformer graphs (one meta model for all)."""
    meta = meta_transformer(config)
    return {part.key: wrap_part(meta, part) for g in graphs for part in g.parts}
