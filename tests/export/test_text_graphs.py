"""The text graphs on the tiny model: the synthetic Gemma folder is real enough for transformers and ltx-core,
each override equals what it replaces, and the layer-chained text encoder (torch, and its exported parts
run by ONNX Runtime, fp32) and the exported connector match the unmodified path: Gemma3Model's hidden
states as GemmaTextEncoder.encode gets them, and EmbeddingsProcessor.process_hidden_states."""

import hashlib
import json
import types
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from ltx_trt.core import shapes
from ltx_trt.core.errors import UserError
from ltx_trt.core.plan import Graph
from ltx_trt.core.shapes import CONTEXT_TOKENS, TensorSpec
from ltx_trt.core.source import ModelSource
from ltx_trt.export import onnx_export
from ltx_trt.export.checks import check_graph
from ltx_trt.model import gemma, gemma_synthetic, gemma_tokenizer, ltx23_config, synthetic, text_graphs, text_parts
from ltx_trt.model.files import ModelFiles
from ltx_trt.model.weights import origin_of
from ltx_trt.runtime import chain
from tests.reference import relative_l2
from tests.reference import RELATIVE_L2

PROMPTS = ("A red fox trots through fresh snow at dawn; she says \"hello there\" 🦊.",
           "",  # <bos> only: one valid token
           "rain " * 1200)  # truncated to 1024 tokens: no padding at all


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> ModelFiles:
    folder = tmp_path_factory.mktemp("tiny")
    synthetic.write_ltx_checkpoint(folder / "ltx.safetensors", ltx23_config.tiny_config(), 64, 4,
                                   model_version=ltx23_config.MODEL_VERSION)
    gemma_synthetic.write_tiny_gemma(folder / "gemma")
    return ModelFiles(ModelSource("tiny", folder / "ltx.safetensors", folder / "gemma", folder / "none"))


def _graph(files, component: str, precision: str = "fp32", length: int = CONTEXT_TOKENS) -> Graph:
    """The plan's graph, or the same graph with another token count (axis 1 of every tensor)."""
    specs = {"text_encoder": shapes.text_encoder_specs, "connector": shapes.connector_specs}[component]
    inputs, outputs = specs(files.dims, {"fp32": "float32", "bf16": "bfloat16"}[precision])
    resize = lambda s: TensorSpec(s.name, (1, length, *s.shape[2:]), s.dtype)  # noqa: E731
    return Graph(component, "", tuple(map(resize, inputs)), tuple(map(resize, outputs)), precision)


def _export(module, component: str, graph: Graph, out: Path):
    model = (text_parts if component == "text_encoder" else text_graphs).COMPONENTS[component]
    wrapper = model.wrap(module, graph)
    ir_model = onnx_export.trace(wrapper, model.example_inputs(module, graph, seed=0), graph, model.export_overrides)
    onnx_export.save(ir_model, wrapper, out, graph.key)
    check_graph(onnx.load(out / f"{graph.key}.onnx", load_external_data=False), graph)  # no NonZero/If/Loop/Scan
    return onnxruntime.InferenceSession(str(out / f"{graph.key}.onnx"))


@pytest.fixture(scope="module")
def encoder(files):
    return gemma.build_text_encoder(files, torch.float32)


@pytest.fixture(scope="module")
def processor(files):
    return text_graphs.build_connector(files, torch.float32)


@pytest.fixture(scope="module")
def text_graph(files):
    from ltx_trt.core.plan import text_encoder_graph

    return text_encoder_graph(files.dims, {"text_encoder": "fp32"})


@pytest.fixture(scope="module")
def text_encoder_onnx(encoder, text_graph, tmp_path_factory):
    """The three fp32 parts exported into one folder (each checked: no NonZero/If/Loop/Scan, no weights)."""
    folder = tmp_path_factory.mktemp("te")
    for part in text_graph.parts:
        _export(encoder, "text_encoder", part, folder)
        assert not list(folder.glob(f"{part.key}.data")) and not list(folder.glob("weights.*"))
    return folder


def _chain(inner, files, text_graph, encoder):
    return chain.text_chain(inner, text_graph, files.dims.text_encoder, files.dims.sliding_layers,
                                 text_parts.model_reader(encoder), torch.float32, torch.device("cpu"))


def _hidden_states(chain, text_graph, ids, mask):
    from ltx_trt.runtime.executors import allocate

    outputs = allocate(text_graph.outputs, "cpu")
    with torch.no_grad():
        chain.run(text_graph.key, {"input_ids": ids, "attention_mask": mask}, outputs)
    return outputs["hidden_states"]


@pytest.fixture(scope="module")
def connector_session(processor, files, tmp_path_factory):
    return _export(processor, "connector", _graph(files, "connector"), tmp_path_factory.mktemp("conn"))


def _tokens(encoder, prompt: str) -> tuple[torch.Tensor, torch.Tensor]:
    pairs = encoder.tokenizer.tokenize_with_weights(prompt)["gemma"]
    return torch.tensor([[int(t) for t, _ in pairs]]), torch.tensor([[int(w) for _, w in pairs]])


def _digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


# --- the synthetic Gemma folder -----------------------------------------------------------------------


def test_tiny_gemma_folder_is_the_same_bytes_for_a_seed(files, tmp_path):
    gemma_synthetic.write_tiny_gemma(tmp_path / "again")
    gemma_synthetic.write_tiny_gemma(tmp_path / "other", seed=1)
    assert _digest(tmp_path / "again") == _digest(files.source.gemma)
    assert _digest(tmp_path / "other") != _digest(files.source.gemma)
    assert not list(tmp_path.glob("*.partial"))


def test_tiny_gemma_loads_in_transformers_with_every_key_and_matches_the_build(files, encoder):
    from transformers import AutoTokenizer, Gemma3ForConditionalGeneration

    tokenizer = AutoTokenizer.from_pretrained(files.source.gemma, local_files_only=True)
    ids = tokenizer("a fox 🦊").input_ids
    assert ids[0] == gemma_tokenizer.BOS_ID and gemma_tokenizer.BOS_ID not in ids[1:]
    assert tokenizer.decode(ids, skip_special_tokens=True) == "a fox 🦊"  # byte fallback round trip
    model, info = Gemma3ForConditionalGeneration.from_pretrained(files.source.gemma, dtype=torch.float32,
                                                                 output_loading_info=True)
    assert (info["missing_keys"], info["unexpected_keys"], info["mismatched_keys"]) == ([], [], [])
    ids, mask = _tokens(encoder, PROMPTS[0])
    with torch.no_grad():
        expected = model.model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        actual, _ = encoder.encode(PROMPTS[0])
    assert all(torch.equal(a, e) for a, e in zip(actual, expected))


def test_full_size_synthetic_gemma_has_the_real_tensor_table():
    table = gemma_synthetic.gemma_tensor_table(gemma_synthetic.gemma3_config(gemma_synthetic.full_text_config(), gemma_synthetic.FULL_VISION))
    assert table["language_model.model.embed_tokens.weight"][0] == (262208, 3840)
    assert "language_model.model.layers.47.mlp.down_proj.weight" in table
    assert 12.1e9 < sum(int(np.prod(shape)) for shape, _ in table.values()) < 12.3e9


def test_sharded_synthetic_gemma_loads_zero_copy_and_equals_one_file(tmp_path):
    gemma_synthetic.write_synthetic_gemma(tmp_path / "sharded", gemma_synthetic.TINY_TEXT_CONFIG, vision=gemma_synthetic.TINY_VISION,
                                shard_bytes=100_000)
    gemma_synthetic.write_tiny_gemma(tmp_path / "single")
    index = json.loads((tmp_path / "sharded" / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 2
    sharded_files = _gemma_files(tmp_path / "sharded")
    sharded, single = (gemma.build_text_encoder(files, torch.bfloat16)
                       for files in (sharded_files, _gemma_files(tmp_path / "single")))
    single_state = single.state_dict()
    for key, tensor in sharded.model.model.language_model.state_dict().items():
        assert torch.equal(tensor, single_state["model.model.language_model." + key])
    assert all(origin_of(p, sharded_files.gemma_shards) is not None for p in sharded.parameters())


def _gemma_files(folder: Path):
    return types.SimpleNamespace(source=ModelSource("t", folder / "none", folder, folder / "none"),
                                 gemma_shards=gemma.open_shards(folder))


def test_build_text_encoder_refuses_missing_unexpected_and_non_gemma3(tmp_path):
    folder = tmp_path / "gemma"
    gemma_synthetic.write_tiny_gemma(folder)
    config = json.loads((folder / "config.json").read_text())
    table = gemma_synthetic.gemma_tensor_table(config)
    for problem, changed in (("1 missing", {k: v for k, v in table.items() if "layers.3.mlp.up" not in k}),
                             ("1 unexpected", {**table, "language_model.model.extra.weight": ((2, 2), None)})):
        synthetic.write_safetensors(folder / "model.safetensors", changed, {"format": "pt"}, torch.bfloat16, 0)
        with pytest.raises(UserError, match=problem):
            gemma.build_text_encoder(_gemma_files(folder), torch.float32)
    (folder / "config.json").write_text(json.dumps(config["text_config"]))
    with pytest.raises(UserError, match="not Gemma-3"):
        gemma.build_text_encoder(_gemma_files(folder), torch.float32)


# --- overrides, each against the code it replaces ------------------------------------------------------


def test_static_attention_masks_equal_transformers_eager_masks():
    from transformers import Gemma3TextConfig
    from transformers.masking_utils import create_causal_mask, create_sliding_window_causal_mask

    config = Gemma3TextConfig(**{**gemma_synthetic.TINY_TEXT_CONFIG, "sliding_window": 4})
    config._attn_implementation = "eager"
    length = 12
    for valid in (1, 5, length):
        mask = text_graphs.left_padded_mask(length, valid)
        args = dict(config=config, input_embeds=torch.zeros(1, length, 8), attention_mask=mask,
                    cache_position=torch.arange(length), past_key_values=None)
        actual = text_graphs.static_attention_masks(mask, config.sliding_window, torch.float32)
        assert torch.equal(actual["full_attention"], create_causal_mask(**args))
        assert torch.equal(actual["sliding_attention"], create_sliding_window_causal_mask(**args))


def test_static_register_fill_equals_ltx_core_boolean_fill(processor):
    from ltx_core.text_encoders.gemma import convert_to_additive_mask

    connector = processor.video_connector
    length = 2 * connector.num_learnable_registers
    hidden = torch.randn(1, length, connector.inner_dim, generator=torch.Generator().manual_seed(0))
    for valid in (1, 2, 127, 128, 200, length):
        additive = convert_to_additive_mask(text_graphs.left_padded_mask(length, valid), torch.float32)
        expected = connector._replace_padded_with_learnable_registers(hidden, additive)
        actual = text_graphs.static_replace_padded_with_learnable_registers(connector, hidden, additive)
        assert torch.equal(actual[0], expected[0]) and torch.equal(actual[1], expected[1])


def test_connector_export_overrides_keep_the_math(processor, files):
    graph = _graph(files, "connector", length=256)
    wrapper = text_graphs.wrap_connector(processor, graph)
    inputs = text_graphs.connector_inputs(processor, graph, seed=5)
    with torch.no_grad():
        expected = wrapper(*inputs)
        with text_graphs.connector_export_overrides():
            actual = wrapper(*inputs)
    for a, e in zip(actual, expected):
        assert relative_l2(a.numpy(), e.numpy()) < 1e-6


def test_connector_pinned_pytorch_attention_is_ltx_core_default_without_xformers(processor, files):
    import copy

    from ltx_core.model.transformer import attention

    if attention.memory_efficient_attention is not None:
        pytest.skip("xformers is installed: ltx-core's default attention is xformers here, not PyTorch SDPA")
    default = copy.deepcopy(processor)
    for module in default.modules():
        if isinstance(module, attention.Attention):
            module.attention_function = attention.AttentionFunction.DEFAULT
    graph = _graph(files, "connector", length=128)
    inputs = text_graphs.connector_inputs(processor, graph, seed=2)
    with torch.no_grad():
        for a, e in zip(text_graphs.wrap_connector(processor, graph)(*inputs),
                        text_graphs.wrap_connector(default, graph)(*inputs)):
            assert torch.equal(a, e)


def test_example_inputs_are_left_padded_prompts(encoder, files):
    graph = _graph(files, "text_encoder", length=64)
    for seed in range(4):
        ids, mask = text_graphs.text_encoder_inputs(encoder, graph, seed)
        valid = int(mask.sum())
        assert valid >= 1 and torch.equal(mask, text_graphs.left_padded_mask(64, valid))
        assert ids[0, 64 - valid] == gemma_tokenizer.BOS_ID and (ids[0, :64 - valid] == gemma_tokenizer.PAD_ID).all()
        assert 0 <= int(ids.min()) and int(ids.max()) < gemma_synthetic.TINY_TEXT_CONFIG["vocab_size"]


# --- ONNX Runtime vs the unmodified ltx-core path, fp32, at the real 1024 tokens ------------------------


@pytest.mark.parametrize("executor", ["torch", "onnxruntime"])
def test_chained_text_encoder_matches_gemma_text_encoder(encoder, files, text_graph, text_encoder_onnx, executor):
    """Valid tokens: relative L2 within the fp32 tolerance. Padded positions are query rows that see no key,
    where the two paths legitimately differ: transformers' SDPA path (boolean mask) gets a zero attention
    output there, the chain's additive mask (transformers' eager convention) the mean of the values. The
    feature extractor zeroes those tokens (see the end-to-end test), so there they only have to be finite."""
    from ltx_trt.runtime.executors.onnxruntime import OnnxRuntimeExecutor
    from ltx_trt.runtime.executors.pytorch import TorchExecutor

    if executor == "torch":
        skeleton = gemma.text_encoder_skeleton(files.source.gemma, torch.float32)
        inner = TorchExecutor({p.key: text_parts.wrap_part(skeleton, p) for p in text_graph.parts})
    else:
        manifest = {"graphs": {p.key: {"file": f"{p.key}.onnx", "precision": "fp32"} for p in text_graph.parts}}
        inner = OnnxRuntimeExecutor(text_encoder_onnx, manifest)
    chain = _chain(inner, files, text_graph, encoder)
    cases = [_tokens(encoder, p) for p in PROMPTS]
    cases += [tuple(text_graphs.text_encoder_inputs(encoder, _graph(files, "text_encoder"), s)) for s in (7, 8)]
    for ids, mask in cases:
        with torch.no_grad():  # what GemmaTextEncoder.encode runs, on these ids
            reference = encoder.model.model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        expected = torch.stack(reference.hidden_states, dim=-1).numpy()
        actual = _hidden_states(chain, text_graph, ids, mask).numpy()
        valid = mask[0].bool().numpy()
        assert relative_l2(actual[:, valid], expected[:, valid]) <= RELATIVE_L2["fp32"]
        assert np.isfinite(actual).all()
    assert int(cases[1][1].sum()) == 1 and int(cases[2][1].sum()) == CONTEXT_TOKENS
    assert len(files.dims.sliding_layers) < files.dims.text_encoder.blocks  # both layer kinds are exercised


def test_connector_onnx_matches_process_hidden_states(processor, connector_session):
    generator = torch.Generator().manual_seed(3)
    for valid in (1, 100, CONTEXT_TOKENS - 1, CONTEXT_TOKENS):
        hidden = 4 * torch.randn(1, CONTEXT_TOKENS, 64, 5, generator=generator)
        mask = text_graphs.left_padded_mask(CONTEXT_TOKENS, valid)
        with torch.no_grad():
            expected = processor.process_hidden_states(hidden, mask, padding_side="left")
        video, audio = connector_session.run(None, {"hidden_states": hidden.numpy(), "attention_mask": mask.numpy()})
        assert relative_l2(video, expected.video_encoding.numpy()) <= RELATIVE_L2["fp32"]
        assert relative_l2(audio, expected.audio_encoding.numpy()) <= RELATIVE_L2["fp32"]


def test_text_path_onnx_end_to_end_matches_ltx_core(encoder, processor, files, text_graph, text_encoder_onnx,
                                                    connector_session):
    """Prompt -> chained text encoder parts -> connector (all ONNX Runtime) -> contexts equals encode ->
    process_hidden_states: whatever the text encoder leaves at padded positions does not reach the contexts."""
    from ltx_trt.runtime.executors.onnxruntime import OnnxRuntimeExecutor

    manifest = {"graphs": {p.key: {"file": f"{p.key}.onnx", "precision": "fp32"} for p in text_graph.parts}}
    chain = _chain(OnnxRuntimeExecutor(text_encoder_onnx, manifest), files, text_graph, encoder)
    for prompt in PROMPTS[:2]:
        ids, mask = _tokens(encoder, prompt)
        with torch.no_grad():
            hidden_states, reference_mask = encoder.encode(prompt)
            expected = processor.process_hidden_states(hidden_states, reference_mask, padding_side="left")
        hidden = _hidden_states(chain, text_graph, ids, mask).numpy()
        video, audio = connector_session.run(None, {"hidden_states": hidden, "attention_mask": mask.numpy()})
        assert relative_l2(video, expected.video_encoding.numpy()) <= RELATIVE_L2["fp32"]
        assert relative_l2(audio, expected.audio_encoding.numpy()) <= RELATIVE_L2["fp32"]


def test_bf16_text_encoder_weights_are_read_zero_copy_from_the_gemma_file(files, text_graph):
    """The chain's weights: every `weight.*` input of the parts, read by the runtime's reader as views of
    the Gemma file's bytes (nothing copied until the store packs them)."""
    read = text_parts.folder_reader(files, torch.bfloat16)
    names = {p.variant: [s.name[len(shapes.WEIGHT_PREFIX):] for s in p.inputs if s.name.startswith(shapes.WEIGHT_PREFIX)]
             for p in text_graph.parts}
    assert names["pre"] == ["embed_tokens.weight"] and names["post"] == ["norm.weight"]
    for part, indices in (("pre", [0]), ("block", range(files.dims.text_encoder.blocks)), ("post", [0])):
        for i in indices:
            for name in names[part]:
                origin = files.origin_of(read(part, i, name))
                assert origin is not None and origin.path == files.source.gemma / "model.safetensors", (part, i, name)
