"""A checkpoint in the layout of the official pre-quantized FP8 LTX-2.3 files runs as it is: its FP8 blocks
with their own scales (no calibration), its bf16 blocks plain; an incomplete one is refused."""

import pytest
from click.testing import CliRunner
from safetensors import safe_open
from safetensors.torch import save_file

from ltx_trt.cli import main
from ltx_trt.core.checkpoint import read_header, stored_quantization
from ltx_trt.core.errors import UserError
from ltx_trt.model.synthetic import write_official_fp8

SCALE = "model.diffusion_model.transformer_blocks.1.attn1.to_q.input_scale"


@pytest.fixture(scope="module")
def official(tiny_export, tmp_path_factory):
    """The tiny model with block 1's Linears in the official FP8 layout, beside its Gemma and upsampler."""
    weights = tiny_export("rtx4090") / "tiny" / "weights"
    folder = tmp_path_factory.mktemp("official-fp8")
    write_official_fp8(weights / "ltx-2.3-tiny.safetensors", folder / "ltx-2.3-tiny-fp8.safetensors", (1,))
    (folder / "ltx-2.3-spatial-upscaler-x2-tiny.safetensors").symlink_to(
        weights / "ltx-2.3-spatial-upscaler-x2-tiny.safetensors")
    (folder / "gemma").symlink_to(weights / "gemma-3-tiny")
    return folder


def test_its_quantized_blocks_are_read_from_the_header(official):
    stored = stored_quantization(read_header(official / "ltx-2.3-tiny-fp8.safetensors"))
    assert (stored.format, stored.blocks, len(stored.linears)) == ("fp8", (1,), 34)  # to_gate_logits included


def test_it_runs_with_its_own_scales_and_no_calibration(official, tmp_path):
    output = tmp_path / "fp8.mp4"
    result = CliRunner().invoke(main, ["run", "--gpu", "rtx4090", "--checkpoint", str(official / "ltx-2.3-tiny-fp8.safetensors"),
                                       "--gemma", str(official / "gemma"), "--artifacts", str(tmp_path / "artifacts"),
                                       "--prompt", "a red fox", "--executor", "torch", "--output", str(output)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "1 fp8 + 1 bf16 blocks" in result.output and output.is_file()


def test_a_quantized_checkpoint_without_its_scales_is_refused(official, tmp_path):
    with safe_open(str(official / "ltx-2.3-tiny-fp8.safetensors"), "pt") as f:
        metadata, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys() if k != SCALE}
    save_file(tensors, str(tmp_path / "broken.safetensors"), metadata)
    with pytest.raises(UserError, match="has no input_scale") as err:
        stored_quantization(read_header(tmp_path / "broken.safetensors"))
    assert "re-download" in err.value.hint
