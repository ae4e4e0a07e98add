"""The guided transformer graph: all guidance passes of a step as the rows of one batch, each row's perturbations
given per block by `perturbation_masks`. Chained (torch) it equals ltx-core's LTXModel called with the same batch
and BatchedPerturbationConfig, and the passes called one by one, bit for bit (bf16); its exported parts through
ONNX Runtime match within the bf16 tolerance; the distilled graphs take no mask."""

import onnx
import pytest
import torch
from ltx_core.guidance.perturbations import (
    BatchedPerturbationConfig,
    Perturbation,
    PerturbationConfig,
    PerturbationType,
)
from ltx_core.model.transformer.modality import Modality

from ltx_trt.core.plan import GUIDED_BATCHES, bucket_graphs, guided_variant
from ltx_trt.core.shapes import PERTURBATIONS
from ltx_trt.export import onnx_export
from ltx_trt.export.checks import check_graph
from ltx_trt.model import transformer_graph, transformer_parts
from ltx_trt.runtime import chain
from ltx_trt.runtime.executors import allocate
from ltx_trt.runtime.executors.onnxruntime import OnnxRuntimeExecutor
from ltx_trt.runtime.executors.pytorch import TorchExecutor
from ltx_trt.core.components import COMPONENTS
from tests.export.test_transformer_graph import SMALL
from tests.reference import RELATIVE_L2, relative_l2

# The official passes (ltx_pipelines/utils/helpers.py multi_modal_guider_denoising_func), by what they skip.
PASSES = {
    "conditional": PerturbationConfig.empty(),
    "negative": PerturbationConfig.empty(),
    "stg": PerturbationConfig([Perturbation(PerturbationType.SKIP_VIDEO_SELF_ATTN, [1]),  # the tiny model's last block
                               Perturbation(PerturbationType.SKIP_AUDIO_SELF_ATTN, [1])]),
    "isolated": PerturbationConfig([Perturbation(PerturbationType.SKIP_A2V_CROSS_ATTN, None),
                                    Perturbation(PerturbationType.SKIP_V2A_CROSS_ATTN, None)]),
}
MIXES = {4: ("conditional", "negative", "stg", "isolated"), 3: ("conditional", "negative", "isolated")}  # two-stage, hq


@pytest.fixture(scope="module")
def files(tiny_ltx_files):
    return tiny_ltx_files


@pytest.fixture(scope="module")
def model(files):
    return transformer_graph.build(files, torch.bfloat16)


def _graphs(files, precision="bf16"):
    return bucket_graphs(SMALL, files.dims, {c: precision for c in COMPONENTS})


def _guided(files, batch):
    return next(g for g in _graphs(files) if g.variant == guided_variant(SMALL.name, batch))


def _config(batch):
    return BatchedPerturbationConfig([PASSES[name] for name in MIXES[batch]])


def _masks(config, blocks, dtype):
    """(blocks, 4, batch) from ltx-core's own BatchedPerturbationConfig.mask, in PERTURBATIONS order."""
    return torch.stack([torch.stack([config.mask(PerturbationType(t), i, "cpu", dtype) for t in PERTURBATIONS])
                        for i in range(blocks)])


def _inputs(model, graph, config, seed):
    """Each row its own latents, contexts and sigma; the RoPE tables (batch 1) and masks as the step gives them."""
    generator = torch.Generator().manual_seed(seed)
    inputs = allocate(graph.inputs, "cpu")
    for name in ("video_tokens", "audio_tokens", "video_context", "audio_context"):
        inputs[name].copy_(torch.randn(inputs[name].shape, generator=generator))
    sigmas = torch.linspace(0.3, 0.9, inputs["video_sigma"].shape[0])
    for m in ("video", "audio"):
        inputs[f"{m}_sigma"].copy_(sigmas)
        inputs[f"{m}_timesteps"].copy_(sigmas[:, None].expand_as(inputs[f"{m}_timesteps"]))
    for prefix, (cos, sin) in transformer_graph.reference_rope_tables(model, graph.grid, 24, torch.bfloat16).items():
        inputs[f"{prefix}_cos"].copy_(cos)
        inputs[f"{prefix}_sin"].copy_(sin)
    inputs["perturbation_masks"].copy_(_masks(config, graph.weights.blocks, torch.bfloat16))
    return inputs


def _ltx_core(model, graph, inputs, config, rows=slice(None)):
    """LTXModel's own forward on rows `rows` of the inputs, positions repeated per row as a batched latent has them."""
    video_positions, audio_positions = transformer_graph.reference_positions(graph.grid, fps=24, dtype=torch.bfloat16)
    batch = inputs["video_tokens"][rows].shape[0]
    modality = {m: Modality(latent=inputs[f"{m}_tokens"][rows], sigma=inputs[f"{m}_sigma"][rows],
                            timesteps=inputs[f"{m}_timesteps"][rows], positions=p.expand(batch, *p.shape[1:]),
                            context=inputs[f"{m}_context"][rows])
                for m, p in (("video", video_positions), ("audio", audio_positions))}
    with torch.no_grad():
        return model(modality["video"], modality["audio"], config)


def _chained(inner, files, graph, inputs):
    chained = chain.block_chain(inner, [graph], files.dims.transformer,
                                transformer_parts.checkpoint_reader(files.checkpoint), torch.bfloat16, "cpu")
    outputs = allocate(graph.outputs, "cpu")
    with torch.no_grad():
        chained.run(graph.key, inputs, outputs)
    return list(outputs.values())


def _torch_chain(files, graph, inputs):
    return _chained(TorchExecutor(transformer_parts.part_modules(files.config, [graph])), files, graph, inputs)


def test_plan_has_guided_graphs_of_the_official_pass_counts_at_the_stage_1_grid(files):
    graphs = {g.key: g for g in _graphs(files)}
    stage1 = graphs[f"transformer.{SMALL.name}.stage1"]
    for batch in GUIDED_BATCHES:
        graph = graphs[f"transformer.{SMALL.name}.guided{batch}"]
        specs = {s.name: s for s in graph.inputs}
        assert graph.grid == stage1.grid and specs["video_tokens"].shape[0] == specs["video_sigma"].shape[0] == batch
        assert specs["perturbation_masks"].shape == (files.dims.transformer.blocks, 4, batch)
        assert specs["video_rope_cos"].shape == {s.name: s for s in stage1.inputs}["video_rope_cos"].shape
        assert [s.shape[0] for s in graph.outputs] == [batch, batch]
        block = {s.name: s for s in graph.part("block").inputs}
        assert block["perturbation_mask"].shape == (4, batch) and block["perturbation_mask"].dtype == "bfloat16"
        assert [p.variant for p in graph.parts] == [f"{graph.variant}.{p}" for p in ("pre", "block", "post")]


def test_perturbation_order_is_ltx_cores():
    assert PERTURBATIONS == tuple(t.value for t in PerturbationType)


def test_distilled_graphs_take_no_masks_and_stay_batch_1(files):
    for graph in _graphs(files, "fp8"):
        if graph.variant.endswith(("stage1", "stage2")):
            for g in (graph, *graph.parts):
                assert not any(s.name.startswith("perturbation") for s in g.inputs), g.key
                assert all(s.shape[0] == 1 for s in (*g.inputs, *g.outputs) if not s.name.startswith("weight.")), g.key


@pytest.mark.parametrize("batch", sorted(MIXES))
def test_guided_chain_equals_ltx_core_on_the_same_batch(files, model, batch):
    graph, config = _guided(files, batch), _config(batch)
    inputs = _inputs(model, graph, config, seed=batch)
    actual = _torch_chain(files, graph, inputs)
    for a, e in zip(actual, _ltx_core(model, graph, inputs, config)):
        assert torch.equal(a, e)
        assert a.float().std() > 0.1


def test_guided_chain_equals_the_passes_called_one_by_one(files, model):
    graph, config = _guided(files, 4), _config(4)
    inputs = _inputs(model, graph, config, seed=7)
    actual = _torch_chain(files, graph, inputs)
    for row, name in enumerate(MIXES[4]):
        single = BatchedPerturbationConfig([PASSES[name]])
        expected = _ltx_core(model, graph, inputs, single, slice(row, row + 1))
        for a, e in zip(actual, expected):
            assert torch.equal(a[row:row + 1], e), name
    # the perturbed rows differ from what the same inputs give unperturbed: the masks do reach the blocks
    plain = _ltx_core(model, graph, inputs, BatchedPerturbationConfig.empty(4))
    assert all(not torch.equal(actual[0][row], plain[0][row]) for row in (2, 3))


@pytest.fixture(scope="module")
def exported_guided(files, model, tmp_path_factory):
    """The bf16 parts of the guided graph of batch 4, exported into one folder: (graph, folder)."""
    folder = tmp_path_factory.mktemp("guided")
    graph = _guided(files, 4)
    for part in graph.parts:
        wrapper = transformer_graph.wrap(model, part)
        ir_model = onnx_export.trace(wrapper, transformer_graph.example_inputs(model, part, seed=0), part,
                                     transformer_graph.export_overrides)
        assert onnx_export.save(ir_model, wrapper, folder, part.key) == []
        check_graph(onnx.load(folder / f"{part.key}.onnx", load_external_data=False), part)
    return graph, folder


def test_guided_block_example_masks_mix_skipped_and_kept_rows(files, model):
    part = _guided(files, 3).part("block")
    inputs = dict(zip([s.name for s in part.inputs], transformer_graph.example_inputs(model, part, seed=0)))
    mask = inputs["perturbation_mask"]
    assert mask.shape == (4, 3) and set(mask.flatten().tolist()) == {0.0, 1.0}
    assert all(0.0 in row and 1.0 in row for row in mask.tolist())  # each attention type skipped by some rows


def test_chained_onnx_guided_parts_match_ltx_core(files, model, exported_guided):
    graph, folder = exported_guided
    config = _config(4)
    manifest = {"graphs": {p.key: {"file": f"{p.key}.onnx", "precision": "bf16"} for p in graph.parts}}
    inputs = _inputs(model, graph, config, seed=5)
    actual = _chained(OnnxRuntimeExecutor(folder, manifest), files, graph, inputs)
    for a, e in zip(actual, _ltx_core(model, graph, inputs, config)):
        for row in range(4):
            assert relative_l2(a[row].float(), e[row].float()) < RELATIVE_L2["bf16"], row

