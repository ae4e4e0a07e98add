"""Low-precision Linears: the quantization math, the torch kernels against their reference, and the reader
that turns a checkpoint's tensors into a quantized block's weight inputs."""

import pytest
import torch

from ltx_trt.core.precision import Quantization, int4_block
from ltx_trt.core.shapes import ChainWeights
from ltx_trt.model import quant_linear, quantize
from ltx_trt.model.quantized_weights import graph_reader
from tests.reference import relative_l2

NO_GPU = "needs an NVIDIA GPU with CUDA (torch.cuda.is_available() is False on this machine)"


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.dtype == b.dtype and torch.equal(a.view(torch.uint8), b.view(torch.uint8))  # fp8 has no equal()


def _weights(n=64, k=256, seed=0):
    return torch.randn(n, k, generator=torch.Generator().manual_seed(seed)) * 0.05


def test_fp8_codes_saturate_instead_of_becoming_nan():
    x = torch.tensor([1.0, -1.0, 1e4, -1e4, 0.0]).bfloat16()
    codes = quantize.fp8_codes(x, torch.tensor(1 / 448))  # input scale calibrated for |x| <= 1
    assert not torch.isnan(codes.float()).any()
    assert codes.float().tolist() == [448.0, -448.0, 448.0, -448.0, 0.0]  # (an unclamped CUDA cast gives NaN)


def test_fp8_weights_round_trip_within_one_e4m3_step():
    weight = _weights()
    codes, scale = quantize.quantize_fp8(weight)
    assert codes.dtype == torch.float8_e4m3fn and scale.shape == () and float(scale) == pytest.approx(
        float(weight.abs().max()) / 448)
    assert relative_l2(quantize.dequantize_fp8(codes, scale, torch.float32), weight) < 0.04  # 3 mantissa bits


def test_int4_packs_two_codes_a_byte_low_nibble_first_and_round_trips():
    codes = torch.tensor([[-8, 7, 1, -1]], dtype=torch.int8)
    packed = quantize.pack_int4(codes)
    assert packed.tolist() == [[0x78, 0xF1]] and torch.equal(quantize.unpack_int4(packed), codes)
    weight = _weights()
    packed, scale = quantize.quantize_int4(weight)
    assert packed.shape == (64, 128) and scale.shape == (64, 256 // int4_block(256)) == (64, 2)
    assert relative_l2(quantize.dequantize_int4(packed, scale, torch.float32), weight) < 0.2  # 4 bits


def test_quant_linear_on_the_cpu_is_its_reference_math():
    x = torch.randn(2, 16, 256, generator=torch.Generator().manual_seed(1)).bfloat16()
    codes, scale = quantize.quantize_fp8(_weights())
    input_scale, bias = torch.tensor(float(x.abs().max()) / 448), torch.randn(64).bfloat16()
    linear = quant_linear.QuantLinear("fp8", 256, 64, True, torch.bfloat16)
    linear.weight, linear.weight_scale, linear.input_scale, linear.bias = (torch.nn.Parameter(t, requires_grad=False)
                                                                           for t in (codes, scale, input_scale, bias))
    expected = quantize.fp8_linear_reference(x, codes, scale, input_scale, bias)
    assert torch.equal(linear(x), expected)
    exact = torch.nn.functional.linear(x.float(), quantize.dequantize_fp8(codes, scale, torch.float32), bias.float())
    assert relative_l2(expected.float(), exact) < 0.05  # W8A8 error of one layer


LINEARS = ("attn.to_q", "ff.out")
LAYOUT = ChainWeights(2, (), (("attn.to_q.weight", (64, 256)), ("attn.to_q.bias", (64,)), ("ff.out.weight", (32, 64)),
                              ("norm.weight", (256,))), ())


def _file(part, block, name):
    return _weights(*dict(LAYOUT.block)[name], seed=block) if name.endswith(".weight") and "norm" not in name \
        else torch.full(dict(LAYOUT.block)[name], float(block + 1))


def test_reader_quantizes_a_plain_file_and_passes_the_rest_through():
    graph = ChainWeights(**{**LAYOUT.__dict__, "quantization": Quantization("fp8", (1,), LINEARS)})
    amax = {(1, "attn.to_q"): torch.tensor(4.48), (1, "ff.out"): torch.tensor(8.96)}
    read = graph_reader(_file, graph, None, torch.bfloat16, lambda block, linear: amax[(block, linear)])
    codes, scale = quantize.quantize_fp8(_file("block", 1, "attn.to_q.weight").bfloat16())  # from the bf16 weight
    assert _same(read("block_fp8", 1, "attn.to_q.weight"), codes)
    assert torch.equal(read("block_fp8", 1, "attn.to_q.weight_scale"), scale)
    assert float(read("block_fp8", 1, "attn.to_q.input_scale")) == pytest.approx(0.01)  # amax / 448
    assert read("block_fp8", 1, "attn.to_q.bias").dtype == torch.bfloat16
    assert torch.equal(read("block", 0, "attn.to_q.weight"), _file("block", 0, "attn.to_q.weight").bfloat16())


def test_reader_takes_an_official_fp8_files_tensors_as_they_are_or_dequantizes_them():
    stored = Quantization("fp8", (1,), LINEARS)
    codes, scale = quantize.quantize_fp8(_weights(seed=5))
    official = {"attn.to_q.weight": codes, "attn.to_q.weight_scale": scale, "attn.to_q.input_scale": torch.tensor(0.5)}
    read_file = lambda part, block, name: official.get(name) if block == 1 and name in official else _file(  # noqa: E731
        part, block, name)
    quantized = ChainWeights(**{**LAYOUT.__dict__, "quantization": stored})
    read = graph_reader(read_file, quantized, stored, torch.bfloat16)  # no calibration needed
    assert _same(read("block_fp8", 1, "attn.to_q.weight"), codes)
    assert float(read("block_fp8", 1, "attn.to_q.input_scale")) == 0.5
    plain = graph_reader(read_file, LAYOUT, stored, torch.bfloat16)  # a bf16 profile: dequantized at pack time
    assert torch.equal(plain("block", 1, "attn.to_q.weight"), quantize.dequantize_fp8(codes, scale, torch.bfloat16))


def test_reader_refuses_fp8_graphs_without_activation_scales():
    graph = ChainWeights(**{**LAYOUT.__dict__, "quantization": Quantization("fp8", (1,), LINEARS)})
    read = graph_reader(_file, graph, None, torch.bfloat16)
    with pytest.raises(Exception, match="calibrate"):
        read("block_fp8", 1, "attn.to_q.input_scale")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_GPU)
def test_fp8_on_the_tensor_cores_equals_the_reference_math():
    device = torch.device("cuda")
    x = torch.randn(4, 512, 1024, device=device).bfloat16()
    codes, scale = quantize.quantize_fp8(torch.randn(2048, 1024, device=device) * 0.02)
    input_scale, bias = torch.tensor(float(x.abs().max()) / 448, device=device), torch.randn(2048, device=device).bfloat16()
    fast = quantize.fp8_linear_cuda(x, codes, scale, input_scale, bias)
    reference = quantize.fp8_linear_reference(x, codes, scale, input_scale, bias)
    assert fast.dtype == torch.bfloat16 and relative_l2(fast.float().cpu(), reference.float().cpu()) < 1e-2


def test_fp4_rounds_to_the_nearest_even_e2m1_code_and_saturates():
    values = torch.tensor([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 7.0, -0.74, -3.6, 0.3, 6.0])
    assert quantize.fp4_values(quantize.fp4_codes(values)).tolist() == [0.0, 1.0, 1.0, 2.0, 2.0, 4.0, 4.0, 6.0,
                                                                        -0.5, -4.0, 0.5, 6.0]


def test_nvfp4_weights_round_trip_and_the_cpu_op_is_the_reference():
    weight = _weights()
    packed, scale, global_scale = quantize.quantize_nvfp4(weight)
    assert packed.shape == (64, 128) and scale.shape == (64, 16) and scale.dtype == torch.float8_e4m3fn
    assert float(global_scale) == pytest.approx(float(weight.abs().max()) / (6 * 448))
    assert relative_l2(quantize.dequantize_nvfp4(packed, scale, global_scale, torch.float32), weight) < 0.12
    x = torch.randn(2, 8, 256, generator=torch.Generator().manual_seed(2)).bfloat16()
    input_scale = torch.tensor(float(x.abs().max()) / (6 * 448))
    y = quant_linear.nvfp4_linear(x, packed, scale, global_scale, input_scale, None)
    assert torch.equal(y, quantize.nvfp4_linear_reference(x, packed, scale, global_scale, input_scale))
    exact = torch.nn.functional.linear(x.float(), weight)
    assert relative_l2(y.float(), exact) < 0.2  # W4A4 error of one layer
