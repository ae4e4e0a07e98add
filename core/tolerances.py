"""The one tolerance table: how far a compiled artifact may be from its reference, per precision.

Values are relative L2 (||actual - reference|| / ||reference||), docs/DESIGN.md "Tolerances". `ltx-trt
verify` checks each graph against the key `graph_key` gives; the tests use the same table
(tests/reference.py). Pure Python; imports nothing of ltx_trt.

fp32: the exported graph run by ONNX Runtime vs the PyTorch module (1e-4: fp32 kernels differ in summation order only).
bf16: bf16 weights and activations on both sides but different kernels and accumulation order.
fp8, int4: the same quantized pipeline in two executors (torch in bf16, ONNX Runtime in fp32): as bf16, since
  the final latents differ by 0.7-0.9% (fp8) and 0.5% (int4) on the tiny model, against bf16's 0.5%.
"<format> block": one quantized block graph alone, against its PyTorch reference: an FP8 code flips where bf16
  and fp32 round differently, and one block does not average that out as the denoising steps do; measured
  2.5-3.7% (fp8) and 1.2% (int4) on the tiny model (ONNX Runtime vs PyTorch). nvfp4 is not measured (ONNX
  Runtime has no FP4; only `verify` on a Blackwell GPU can): set as fp8's until it is.
"bf16 guided": a guided stage (3-4 passes combined by the multi-modal guider) through ONNX Runtime against the
  official one-call-per-pass loop: the guider weighs the passes by the guidance scales (official audio: CFG 7,
  STG 1, modality 3: the conditional pass x10, the others -6, -1, -2), so each call's bf16 difference comes
  out amplified; measured 2.7% (video) and 5.1% (audio) after three steps on the tiny model.
"<precision> vs bf16": the quantized pipeline against the official bf16 one, final latents of the two
  distilled stages: the quantization error itself. Measured 1.1-1.4% (fp8), 3.3-4.4% (int4) and 3.3-4.6%
  (nvfp4) on the tiny model; at full size with random weights on the H100 3.2-3.9% (fp8), 10.7-13.5%
  (int4), 10.2-12.3% (nvfp4) (docs/BENCHMARKS.md).
"""

RELATIVE_L2 = {
    "fp32": 1e-4,
    "bf16": 2e-2,
    "bf16 guided": 1e-1,
    "fp8": 2e-2,
    "int4": 2e-2,
    "fp8 block": 5e-2,
    "int4 block": 2e-2,
    "nvfp4 block": 5e-2,
    "fp8 vs bf16": 5e-2,
    "int4 vs bf16": 1e-1,
    "nvfp4 vs bf16": 1e-1,
}
ACTIVATION_KEYS = {"fp32": "fp32", "bf16": "bf16", "fp8": "bf16", "int4": "bf16", "nvfp4": "bf16"}


def graph_key(precision: str, variant: str) -> str:
    """The table key one graph is checked against: `<format> block` for a quantized block graph
    (variant ending in `block_fp8`, ...), else the dtype its activations are in (the pre/post parts of
    an fp8 transformer are plain bf16 graphs)."""
    part = variant.rsplit(".", 1)[-1]
    if part.startswith("block_"):
        return f"{part.removeprefix('block_')} block"
    return ACTIVATION_KEYS[precision]
