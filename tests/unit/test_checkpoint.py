import json
import struct

import pytest

from ltx_trt.core.checkpoint import check_ltx23, read_header
from ltx_trt.core.errors import UserError


def _write(path, header: dict, payload: bytes = b"") -> None:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + payload)


def _ltx_config(gated: bool) -> str:
    return json.dumps({"transformer": {"apply_gated_attention": gated}, "vae": {}, "audio_vae": {}, "vocoder": {}})


def test_ltx23_checkpoint_is_accepted(tmp_path):
    path = tmp_path / "ok.safetensors"
    _write(path, {"__metadata__": {"model_version": "2.3.0", "config": _ltx_config(True)}})
    assert check_ltx23(read_header(path))["transformer"]["apply_gated_attention"] is True


@pytest.mark.parametrize("metadata,tensors,needle", [
    ({"config": _ltx_config(False)}, {}, "LTX-2 (19B)"),
    ({"model_version": "2.5.1", "config": _ltx_config(True)}, {}, "'2.5.1'"),
    ({}, {"a.lora_A.weight": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, "LoRA"),
    ({}, {"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, "without an LTX config"),
])
def test_non_23_checkpoints_are_refused_with_what_they_are(tmp_path, metadata, tensors, needle):
    path = tmp_path / "other.safetensors"
    _write(path, {"__metadata__": metadata, **tensors}, b"\0" * 4)
    with pytest.raises(UserError) as err:
        check_ltx23(read_header(path))
    assert needle in err.value.message and "not LTX-2.3" in err.value.message


def test_corrupt_header_is_a_user_error(tmp_path):
    path = tmp_path / "corrupt.safetensors"
    path.write_bytes(struct.pack("<Q", 40) + b"{not json" + b" " * 40)
    with pytest.raises(UserError, match="corrupt"):
        read_header(path)
    path.write_bytes(b"\xff" * 16)  # header length larger than the file
    with pytest.raises(UserError, match="not a safetensors file"):
        read_header(path)


def test_missing_checkpoint_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="not found"):
        read_header(tmp_path / "nope.safetensors")


def test_tiled_block_scales_follow_the_cublas_layout():
    """Element (r, c) of a block-scale matrix sits at the offset cuBLAS documents for its 128x4 tiles, and
    the official files' nibble order puts element 2j in the high half of byte j."""
    import torch
    from ltx_trt.model import quantize
    rows, cols = 200, 7
    scale = torch.arange(rows * cols, dtype=torch.int32).remainder(251).to(torch.uint8).reshape(rows, cols)
    tiled = quantize.tile_scales(scale).flatten()
    padded_cols = 8
    for r in range(rows):
        for c in range(cols):
            offset = ((r // 128) * (padded_cols // 4) + c // 4) * 512 + (r % 32) * 16 + (r % 128) // 32 * 4 + c % 4
            assert tiled[offset] == scale[r, c]
    assert torch.equal(quantize.untile_scales(tiled, rows, cols), scale)
    official = torch.tensor([0x2F], dtype=torch.uint8)  # element 0: code 2 (1.0), element 1: code 15 (-6.0)
    values = quantize.fp4_values(quantize._nibbles(quantize.swap_nibbles(official)))
    assert values.tolist() == [1.0, -6.0]
