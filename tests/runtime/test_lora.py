"""LoRAs merged under the transformer's reader (model/lora.py) equal ltx-core's own fusion bit for bit: every
weight the reader returns is compared with the transformer ltx-pipelines' ModelLedger builds with the same
LoRAs (official and bare key naming, strength 0.5, two LoRAs, all strengths 0). Each bad LoRA is a one-line
UserError naming the file and the offending key, raised from the header before any weight is read."""

import dataclasses
import math

import pytest
import torch
from safetensors.torch import load_file, save_file

from ltx_trt.core.checkpoint import read_header, stored_quantization
from ltx_trt.core.pipelines import LoraSpec
from ltx_trt.core.precision import Quantization
from ltx_trt.core.source import tiny_source
from ltx_trt.model import ltx23_config, quantize, synthetic, tiny
from ltx_trt.model.lora import linear_shapes, lora_reader
from ltx_trt.model.quantized_weights import graph_reader
from ltx_trt.model.transformer_parts import checkpoint_reader
from tests.refusals import refused as _refused

RANK = 8
Q = "transformer_blocks.1.attn1.to_q"  # a Linear the error cases damage
OFFICIAL = synthetic.OFFICIAL_LORA_PREFIX


@pytest.fixture(scope="module")
def loras(tiny_ltx_files, tmp_path_factory):
    """LoRA files for the tiny checkpoint: the distilled-style LoRA (official naming, every Linear), the same in
    bare ltx-core naming, and a second LoRA (other seed, bare naming) on block 1 and patchify_proj only."""
    folder = tmp_path_factory.mktemp("loras")
    config = tiny_ltx_files.config
    synthetic.write_lora(folder / "official.safetensors", config, rank=RANK, seed=0)
    synthetic.write_lora(folder / "bare.safetensors", config, rank=RANK, seed=0, prefix="")
    synthetic.write_lora(folder / "second.safetensors", config, rank=4, seed=1, prefix="")
    _rewrite(folder / "second.safetensors", folder / "second.safetensors",
             lambda t: [t.pop(k) for k in list(t) if not k.startswith(("transformer_blocks.1.", "patchify_proj."))])
    return folder


def _rewrite(source, target, edit):
    tensors = load_file(str(source))
    edit(tensors)
    save_file(tensors, str(target))
    return target


def _reader(files, specs, stored=None):
    return lora_reader(checkpoint_reader(files.checkpoint), specs, files.dims.transformer, stored)


def _ltx_core_transformer(files, specs):
    """The transformer ltx-pipelines builds with these LoRAs (ModelLedger, bf16, the official CLI's key map)."""
    from ltx_core.loader import LTXV_LORA_COMFY_RENAMING_MAP, LoraPathStrengthAndSDOps
    from ltx_pipelines.utils.model_ledger import ModelLedger

    loras = tuple(LoraPathStrengthAndSDOps(str(s.path), s.strength, LTXV_LORA_COMFY_RENAMING_MAP) for s in specs)
    ledger = ModelLedger(dtype=torch.bfloat16, device=torch.device("cpu"),
                         checkpoint_path=str(files.source.checkpoint), loras=loras)
    return ledger.transformer().velocity_model


def _every_weight(layout):
    """(part, block, name, transformer key) of every weight the weight store reads."""
    for part, params in (("pre", layout.pre), ("post", layout.post)):
        yield from ((part, 0, name, name) for name, _ in params)
    for block in range(layout.blocks):
        yield from (("block", block, name, f"transformer_blocks.{block}.{name}") for name, _ in layout.block)


def _bits(tensor):
    return tensor.contiguous().view(torch.int16)


PARITY_CASES = {
    "official naming": [("official", 1.0)],
    "bare naming": [("bare", 1.0)],
    "strength 0.5": [("official", 0.5)],
    "two LoRAs": [("official", 0.5), ("second", -0.8)],
}


@pytest.mark.parametrize("case", PARITY_CASES)
def test_merged_weights_equal_ltx_core_fusion_bit_for_bit(tiny_ltx_files, loras, case):
    files = tiny_ltx_files
    specs = [LoraSpec(loras / f"{name}.safetensors", strength) for name, strength in PARITY_CASES[case]]
    merge = _reader(files, specs)
    reference = _ltx_core_transformer(files, specs)
    changed = 0
    for part, block, name, key in _every_weight(files.dims.transformer):
        ours, stored = merge(part, block, name), files.checkpoint.tensor(f"model.diffusion_model.{key}")
        assert torch.equal(_bits(ours), _bits(reference.get_parameter(key))), key
        if key in merge.targets:
            changed += not torch.equal(ours, stored)
        else:  # untouched: the checkpoint's own memory-mapped tensor
            assert ours.data_ptr() == stored.data_ptr(), key
    assert changed == len(merge.targets) == len(merge.merged) > 0
    assert f"{len(merge.targets)} of {len(merge.targets)} transformer weights merged" in merge.report()


def test_quantized_graphs_get_the_merged_weight_quantized(tiny_ltx_files, loras):
    """Merged in bf16 first, quantized after: FP8 graph weights are the codes of ltx-core's merged weight."""
    files = tiny_ltx_files
    specs = [LoraSpec(loras / "official.safetensors", 0.5)]
    layout = files.dims.transformer
    graph = dataclasses.replace(layout, quantization=Quantization("fp8", (1,), layout.linears()))
    read = graph_reader(_reader(files, specs), graph, None, torch.bfloat16, lambda block, linear: torch.tensor(4.0))
    merged = _ltx_core_transformer(files, specs).get_parameter(f"{Q}.weight")
    codes, scale = quantize.quantize_fp8(merged)
    assert torch.equal(read("block_fp8", 1, "attn1.to_q.weight").view(torch.uint8), codes.view(torch.uint8))
    assert torch.equal(read("block_fp8", 1, "attn1.to_q.weight_scale"), scale)


def test_all_strengths_zero_merge_nothing_as_ltx_core(tiny_ltx_files, loras):
    files = tiny_ltx_files
    specs = [LoraSpec(loras / "official.safetensors", 0.0), LoraSpec(loras / "second.safetensors", 0.0)]
    merge, reference = _reader(files, specs), _ltx_core_transformer(files, specs)
    for part, block, name, key in _every_weight(files.dims.transformer):
        assert torch.equal(_bits(merge(part, block, name)), _bits(reference.get_parameter(key))), key
    assert not merge.merged and "nothing merged" in merge.report()


def test_tiny_model_has_a_distilled_lora_on_every_linear(tiny_ltx_files, tmp_path):
    assert tiny_source(tmp_path).distilled_lora.name == tiny.DISTILLED_LORA
    path = tmp_path / tiny.DISTILLED_LORA
    synthetic.write_lora(path, tiny_ltx_files.config, rank=tiny.DISTILLED_LORA_RANK, seed=tiny.SEED)
    merge = _reader(tiny_ltx_files, [LoraSpec(path)])
    assert merge.targets == set(linear_shapes(tiny_ltx_files.dims.transformer))
    assert all(k.startswith(OFFICIAL) for k in read_header(path).tensors)


def test_full_size_synthetic_lora_has_the_official_distilled_loras_pairs_and_ranks():
    """ltx-2.3-22b-distilled-lora-384: 1660 pairs, ranks {384: 1360, 32: 288 (gate logits), 256: 8, 128: 4}."""
    table = synthetic.lora_tensor_table(ltx23_config.full_config(), 384)
    ranks = [shape[0] for key, (shape, _) in table.items() if key.endswith(".lora_A.weight")]
    assert {r: ranks.count(r) for r in set(ranks)} == {384: 1360, 32: 288, 256: 8, 128: 4}


def _damaged(loras, tmp_path, edit):
    return _rewrite(loras / "official.safetensors", tmp_path / "damaged.safetensors", edit)


def _set(key, make):
    return lambda tensors: tensors.__setitem__(key, make(tensors[key]))


A_KEY, B_KEY = f"{OFFICIAL}{Q}.lora_A.weight", f"{OFFICIAL}{Q}.lora_B.weight"
NO_BLOCK = f"{OFFICIAL}transformer_blocks.7.attn1.to_q"  # the tiny transformer has 2 blocks
NO_WEIGHT = "no weight of the LTX-2.3 transformer for"
KOHYA = "lora_unet_transformer_blocks_1_attn1_to_q.lora_down.weight"
DAMAGE = {
    "key of no weight": (lambda t: t.update({NO_BLOCK + ".lora_A.weight": t[A_KEY].clone(),
                                             NO_BLOCK + ".lora_B.weight": t[B_KEY].clone()}),
                         NO_WEIGHT, "transformer_blocks.7.attn1.to_q.lora_A.weight"),
    "connector key": (lambda t: t.update({f"{OFFICIAL}video_embeddings_connector.x.lora_A.weight": t[A_KEY].clone()}),
                      NO_WEIGHT, "video_embeddings_connector.x.lora_A.weight"),
    "kohya naming": (lambda t: t.update({KOHYA: t.pop(A_KEY)}), NO_WEIGHT, KOHYA),
    "bias delta": (lambda t: t.update({f"{OFFICIAL}{Q}.lora_B.bias": t[B_KEY][:, 0].clone()}),
                   NO_WEIGHT, f"{Q}.lora_B.bias"),
    "A without B": (lambda t: t.pop(B_KEY), A_KEY, "has no", B_KEY),
    "B without A": (lambda t: t.pop(A_KEY), B_KEY, "has no", A_KEY),
    "rank mismatch": (_set(B_KEY, lambda b: b[:, :4].contiguous()), A_KEY, "[64, 4]", "do not have one rank"),
    "shape mismatch": (_set(A_KEY, lambda a: torch.cat([a, a[:, :1]], 1)), A_KEY, "[8, 65]", f"{Q}.weight [64, 64]"),
    "factor dtypes differ": (_set(B_KEY, lambda b: b.float()), A_KEY, "BF16", "F32"),
    "integer factors": (lambda t: t.update({A_KEY: t[A_KEY].to(torch.int32), B_KEY: t[B_KEY].to(torch.int32)}),
                        A_KEY, "I32"),
    "two namings of one pair": (lambda t: t.update({f"{Q}.lora_A.weight": t[A_KEY].clone()}), A_KEY,
                                f"{Q}.lora_A.weight", "both name"),
}


@pytest.mark.parametrize("case", DAMAGE)
def test_bad_lora_is_one_line_error_naming_the_key(tiny_ltx_files, loras, tmp_path, case):
    edit, *needles = DAMAGE[case]
    path = _damaged(loras, tmp_path, edit)
    _refused(lambda: _reader(tiny_ltx_files, [LoraSpec(path)]), str(path), *needles)


def test_lora_file_missing_unreadable_or_not_safetensors_is_refused(tiny_ltx_files, tmp_path):
    read = lambda path: _reader(tiny_ltx_files, [LoraSpec(path)])  # noqa: E731
    _refused(lambda: read(tmp_path / "absent.safetensors"), "not found", "absent.safetensors")
    _refused(lambda: read(tmp_path), "not found")
    (tmp_path / "text.safetensors").write_bytes(b"not a safetensors file at all")
    _refused(lambda: read(tmp_path / "text.safetensors"), "cannot read the LoRA", "text.safetensors")
    save_file({}, str(tmp_path / "empty.safetensors"))
    _refused(lambda: read(tmp_path / "empty.safetensors"), "holds no tensors")


@pytest.mark.parametrize("strength", [math.nan, math.inf, -math.inf])
def test_non_finite_strength_is_refused(tiny_ltx_files, loras, strength):
    path = loras / "official.safetensors"
    _refused(lambda: _reader(tiny_ltx_files, [LoraSpec(path, strength)]), str(path), f"strength {strength}")


def test_lora_on_weights_the_checkpoint_stores_quantized_is_refused(tiny_ltx_files, loras, tmp_path):
    """An official FP8 file's block Linears are FP8 codes: ltx-trt merges only into bf16 weights, then quantizes."""
    path = tmp_path / "fp8.safetensors"
    synthetic.write_official(tiny_ltx_files.source.checkpoint, path, "fp8", blocks=(0,))
    stored = stored_quantization(read_header(path))
    error = _refused(lambda: _reader(tiny_ltx_files, [LoraSpec(loras / "official.safetensors")], stored),
                     "transformer_blocks.0.", "stores quantized (fp8)")
    assert "bf16 checkpoint" in error.hint
    merge = _reader(tiny_ltx_files, [LoraSpec(loras / "second.safetensors")], stored)  # block 1 is stored bf16
    assert merge.targets and not any(t.startswith("transformer_blocks.0.") for t in merge.targets)
