"""The files a run reads are checked up front, for every executor, as strictly as export loads them: a
checkpoint's transformer tensors (missing, unexpected, misshapen with no broadcasting, wrongly typed), a
safetensors table against its file's size (truncation found from the header), and a Gemma folder's config,
tokenizer, shards and tensors. Each refusal is a one-line UserError naming the file, raised before any
weight is read; through the CLI, exit status 1 and no traceback, before generation starts."""

import json
import shutil
import struct

import pytest
import torch
from click.testing import CliRunner
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ltx_trt.cli import main
from ltx_trt.commands import session as run_session  # where `run` generates (commands/session.py)
from ltx_trt.core.checkpoint import read_header
from ltx_trt.core.errors import UserError
from ltx_trt.core.source import ModelSource
from ltx_trt.model import gemma_synthetic, synthetic
from ltx_trt.model.files import ModelFiles
from ltx_trt.model.tiny import write_tiny_model
from tests.refusals import refused as _refused

BLOCK = "model.diffusion_model.transformer_blocks.1."
CHECKPOINT, UPSAMPLER, GEMMA = ("ltx-2.3-tiny.safetensors", "ltx-2.3-spatial-upscaler-x2-tiny.safetensors",
                                "gemma-3-tiny")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny model's files (checkpoint, upsampler, Gemma folder) and a sharded Gemma folder of the same config."""
    folder = tmp_path_factory.mktemp("tiny-weights")
    write_tiny_model(folder)
    gemma_synthetic.write_synthetic_gemma(folder / "sharded", gemma_synthetic.TINY_TEXT_CONFIG,
                                          vision=gemma_synthetic.TINY_VISION, shard_bytes=100_000)
    return folder


def _files(tiny, checkpoint=None, gemma=None) -> ModelFiles:
    return ModelFiles(ModelSource("t", checkpoint or tiny / CHECKPOINT, gemma or tiny / GEMMA, tiny / UPSAMPLER))


def _rewritten(source, target, edit):
    """A copy of a safetensors file with `edit(tensors)` applied, same metadata."""
    with safe_open(str(source), "pt") as f:
        metadata = f.metadata()
    tensors = load_file(str(source))
    edit(tensors)
    save_file(tensors, str(target), metadata)
    return target


def _set(key, make):
    return lambda tensors: tensors.__setitem__(key, make(tensors[key]))


CHECKPOINT_CASES = {
    "missing": (lambda t: t.pop(f"{BLOCK}attn1.to_q.weight"), "1 missing", f"{BLOCK}attn1.to_q.weight"),
    "unexpected": (lambda t: t.__setitem__(f"{BLOCK}extra.weight", torch.zeros(2)), "1 unexpected", "extra.weight"),
    "misshapen": (_set(f"{BLOCK}attn1.to_q.weight", lambda w: w[:, :-1].contiguous()), "wrongly shaped",
                  f"{BLOCK}attn1.to_q.weight"),
    "broadcasting bias": (_set(f"{BLOCK}attn1.to_q.bias", lambda b: b[:1].clone()), "wrongly shaped",
                          f"{BLOCK}attn1.to_q.bias [1]"),
    "integer weight": (_set(f"{BLOCK}ff.net.0.proj.weight", lambda w: w.to(torch.int32)), "wrongly typed", "I32"),
    "fp8 without scales": (_set(f"{BLOCK}ff.net.0.proj.weight", lambda w: w.to(torch.float8_e4m3fn)),
                           "has no weight_scale", "ff.net.0.proj"),
}


@pytest.mark.parametrize("case", sorted(CHECKPOINT_CASES))
def test_checkpoint_that_does_not_match_the_transformer_is_refused_from_its_header(tiny, tmp_path, case):
    edit, *needles = CHECKPOINT_CASES[case]
    path = _rewritten(tiny / CHECKPOINT, tmp_path / "ltx.safetensors", edit)
    err = _refused(_files(tiny, path).check_chained, str(path), *needles)
    assert "re-download" in err.hint


@pytest.mark.parametrize("format, plain", [("fp8", ()), ("nvfp4", ("attn1.to_gate_logits",))])
def test_official_quantized_layouts_pass_and_a_misshapen_quantized_weight_does_not(tiny, tmp_path, format, plain):
    path = tmp_path / "official.safetensors"
    synthetic.write_official(tiny / CHECKPOINT, path, format, (1,), plain)
    _files(tiny, path).check_chained()
    broken = _rewritten(path, tmp_path / "broken.safetensors", _set(f"{BLOCK}attn1.to_q.weight", lambda w: w[:-1]))
    # the companions' header check reads the weight's shape; the strict key map compares it with the model's
    with pytest.raises(UserError, match="to_q"):
        _files(tiny, broken).check_chained()


def _table_file(path, entries: dict, data: bytes) -> None:
    raw = json.dumps(entries).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)


F32 = {"dtype": "F32", "shape": [2]}
TABLE_CASES = {
    "truncated": ({"a": {**F32, "data_offsets": [0, 8]}}, 4, "truncated"),
    "end before start": ({"a": {**F32, "data_offsets": [8, 0]}}, 8, "malformed"),
    "negative offset": ({"a": {**F32, "data_offsets": [-8, 0]}}, 8, "malformed"),
    "byte count": ({"a": {**F32, "data_offsets": [0, 4]}}, 4, "needs 8"),
    "overlap": ({"a": {**F32, "data_offsets": [0, 8]}, "b": {**F32, "data_offsets": [4, 12]}}, 12,
                "inside the tensor before it"),
    "unknown dtype": ({"a": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]}}, 8, "'F64'"),
    "no offsets": ({"a": F32}, 8, "no dtype, shape or data_offsets"),
}


@pytest.mark.parametrize("case", sorted(TABLE_CASES))
def test_a_tensor_table_inconsistent_with_the_file_is_refused_before_any_read(tmp_path, case):
    entries, data_bytes, needle = TABLE_CASES[case]
    path = tmp_path / "file.safetensors"
    _table_file(path, entries, b"\0" * data_bytes)
    _refused(lambda: read_header(path), str(path), needle)


def test_unused_bytes_between_or_after_tensors_are_let_through(tmp_path):
    path = tmp_path / "file.safetensors"
    _table_file(path, {"a": {**F32, "data_offsets": [4, 12]}, "b": {**F32, "data_offsets": [12, 20]}}, b"\0" * 24)
    assert read_header(path).tensors["b"]["data_offsets"] == [12, 20]


def test_a_truncated_checkpoint_is_refused_when_opened(tiny, tmp_path):
    path = tmp_path / "ltx.safetensors"
    path.write_bytes((tiny / CHECKPOINT).read_bytes()[:-1000])
    _refused(lambda: _files(tiny, path), str(path), "truncated")


def _without(name):
    return lambda folder: (folder / name).unlink()


def _shard(folder, index=1):
    return sorted(folder.glob("model-*.safetensors"))[index]


def _rewrite_shard(edit):
    def change(folder):
        shard = _shard(folder)
        _rewritten(shard, shard, edit)
    return change


def _truncate_shard(folder):
    shard = _shard(folder)
    shard.write_bytes(shard.read_bytes()[:-100])


def _odd_index(folder):
    index = folder / "model.safetensors.index.json"
    table = json.loads(index.read_text())
    table["weight_map"][next(iter(table["weight_map"]))] = "../elsewhere.safetensors"
    index.write_text(json.dumps(table))


GEMMA_CASES = {
    "no tokenizer.json": (_without("tokenizer.json"), "no tokenizer.json"),
    "no tokenizer_config.json": (_without("tokenizer_config.json"), "no tokenizer_config.json"),
    "no config.json": (_without("config.json"), "no config.json"),
    "missing shard": (lambda folder: _shard(folder).unlink(), "weight shard(s) missing"),
    "truncated shard": (_truncate_shard, "truncated"),
    "shard index escapes": (_odd_index, "not files beside it"),
    "missing tensor": (_rewrite_shard(lambda t: t.pop(next(iter(t)))), "1 missing"),
    "misshapen tensor": (_rewrite_shard(lambda t: t.__setitem__(next(iter(t)), torch.zeros(1))), "wrongly shaped"),
    "integer tensor": (_rewrite_shard(lambda t: t.__setitem__(k := next(iter(t)), t[k].to(torch.int32))),
                       "wrongly typed"),
}


@pytest.mark.parametrize("case", sorted(GEMMA_CASES))
def test_a_gemma_folder_is_checked_for_config_tokenizer_and_weights_up_front(tiny, tmp_path, case):
    edit, needle = GEMMA_CASES[case]
    folder = shutil.copytree(tiny / "sharded", tmp_path / "gemma")
    edit(folder)
    _refused(_files(tiny, gemma=folder).check_chained, str(folder), needle)


def test_intact_tiny_files_pass(tiny):
    _files(tiny).check_chained()
    _files(tiny, gemma=tiny / "sharded").check_chained()


def _cli(command, tiny, checkpoint, gemma, tmp_path, *flags):
    return CliRunner().invoke(main, [command, "--gpu", "rtx4090", "--checkpoint", str(checkpoint), "--gemma",
                                     str(gemma), "--upsampler", str(tiny / UPSAMPLER), "--artifacts",
                                     str(tmp_path / "artifacts"), *flags])


def _one_line_refusal(result, needle):
    assert result.exit_code == 1, result.output + repr(result.exception)
    assert "Traceback" not in result.output and needle in result.output, result.output
    error = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(error) == 1 and needle in error[0], result.output


RUN_FLAGS = ("--executor", "torch", "--precision", "transformer=bf16", "--precision", "text_encoder=bf16",
             "--prompt", "a red fox")


@pytest.mark.parametrize("case", ["broadcasting bias", "no tokenizer"])
def test_run_with_the_torch_executor_refuses_bad_files_before_generating(tiny, tmp_path, monkeypatch, case):
    monkeypatch.setattr(run_session, "generate", lambda *a, **k: pytest.fail("generation started"))
    checkpoint, gemma = tiny / CHECKPOINT, tiny / GEMMA
    if case == "broadcasting bias":
        checkpoint = _rewritten(checkpoint, tmp_path / "ltx.safetensors", CHECKPOINT_CASES[case][0])
        needle = f"{BLOCK}attn1.to_q.bias [1]"
    else:
        gemma = shutil.copytree(gemma, tmp_path / "gemma")
        (gemma / "tokenizer.json").unlink()
        needle = "no tokenizer.json"
    result = _cli("run", tiny, checkpoint, gemma, tmp_path, *RUN_FLAGS, "--output", str(tmp_path / "out.mp4"))
    _one_line_refusal(result, needle)
    assert not (tmp_path / "out.mp4").exists()


def test_export_refuses_a_truncated_checkpoint_in_one_line(tiny, tmp_path):
    path = tmp_path / "ltx.safetensors"
    path.write_bytes((tiny / CHECKPOINT).read_bytes()[:-1000])
    _one_line_refusal(_cli("export", tiny, path, tiny / GEMMA, tmp_path), "truncated")
