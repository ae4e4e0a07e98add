"""A checkpoint in the layout of the official pre-quantized LTX-2.3 files (FP8, NVFP4) runs as it is: its
quantized blocks with their own scales (no calibration), its bf16 blocks plain; an incomplete or
misshapen one is refused from its header."""

import pytest
import torch
from click.testing import CliRunner
from safetensors import safe_open
from safetensors.torch import save_file

from ltx_trt.cli import main
from ltx_trt.core.checkpoint import read_header, stored_quantization
from ltx_trt.core.errors import UserError
from ltx_trt.model import quantize
from ltx_trt.model.synthetic import write_official

LINEAR = "model.diffusion_model.transformer_blocks.1.attn1.to_q"
# (format, profile, extra run flags, Linears the file leaves plain): the NVFP4 files keep to_gate_logits bf16
CASES = {"fp8": ("rtx4090", (), ()),
         "nvfp4": ("rtx5090", ("--precision", "transformer=nvfp4"), ("attn1.to_gate_logits",))}


@pytest.fixture(scope="module", params=sorted(CASES))
def official(request, tiny_export, tmp_path_factory):
    """The tiny model with block 1's Linears in an official layout, beside its Gemma and upsampler."""
    format = request.param
    weights = tiny_export("rtx4090") / "tiny" / "weights"
    folder = tmp_path_factory.mktemp(f"official-{format}")
    write_official(weights / "ltx-2.3-tiny.safetensors", folder / "ltx.safetensors", format, (1,), CASES[format][2])
    (folder / "ltx-2.3-spatial-upscaler-x2-tiny.safetensors").symlink_to(
        weights / "ltx-2.3-spatial-upscaler-x2-tiny.safetensors")
    (folder / "gemma").symlink_to(weights / "gemma-3-tiny")
    return format, folder, weights / "ltx-2.3-tiny.safetensors"


def test_its_quantized_blocks_are_read_from_the_header(official):
    format, folder, _ = official
    stored = stored_quantization(read_header(folder / "ltx.safetensors"))
    assert (stored.format, stored.blocks) == (format, (1,))
    assert len(stored.linears) == 34 - len(CASES[format][2])


def test_it_runs_with_its_own_scales_and_no_calibration(official, tmp_path):
    format, folder, _ = official
    profile, flags, _ = CASES[format]
    output = tmp_path / "out.mp4"
    result = CliRunner().invoke(main, ["run", "--gpu", profile, "--checkpoint", str(folder / "ltx.safetensors"),
                                       "--gemma", str(folder / "gemma"), "--artifacts", str(tmp_path / "artifacts"),
                                       "--prompt", "a red fox", "--executor", "torch", "--output", str(output), *flags])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert f"1 {format} + 1 bf16 blocks" in result.output and output.is_file()


@pytest.mark.parametrize("official", ["nvfp4"], indirect=True)
def test_official_nvfp4_bytes_dequantize_to_the_quantized_weight(official):
    """High-nibble-first codes and tiled scales read back to what quantizing the bf16 weight gives."""
    _, folder, source = official
    from ltx_trt.model.quantized_weights import _plain_weight
    with safe_open(str(folder / "ltx.safetensors"), "pt") as f, safe_open(str(source), "pt") as s:
        read = lambda part, block, name: f.get_tensor(f"model.diffusion_model.transformer_blocks.{block}.{name}")
        weight = s.get_tensor(f"{LINEAR}.weight")
        stored = stored_quantization(read_header(folder / "ltx.safetensors"))
        got = _plain_weight(read, stored, 1, "attn1.to_q", torch.float32)
    expected = quantize.dequantize_nvfp4(*quantize.quantize_nvfp4(weight), torch.float32)
    assert torch.equal(got, expected)
    assert (got - weight.float()).norm() / weight.float().norm() < 0.15  # and it is the weight, not noise


@pytest.mark.parametrize("companion, replacement, problem", [
    ("input_scale", None, "has no input_scale"),
    ("weight_scale", torch.ones(3, 3), "needs"),
])
def test_a_quantized_checkpoint_with_missing_or_misshapen_scales_is_refused(official, tmp_path, companion,
                                                                            replacement, problem):
    _, folder, _ = official
    key = f"{LINEAR}.{companion}"
    with safe_open(str(folder / "ltx.safetensors"), "pt") as f:
        metadata, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys() if k != key}
    if replacement is not None:
        tensors[key] = replacement
    save_file(tensors, str(tmp_path / "broken.safetensors"), metadata)
    with pytest.raises(UserError, match=problem) as err:
        stored_quantization(read_header(tmp_path / "broken.safetensors"))
    assert "re-download" in err.value.hint
