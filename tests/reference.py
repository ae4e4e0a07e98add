"""What tests compare compiled artifacts with: the tolerance table (one, per precision) and the readers of
the reference inputs/outputs export writes beside each ONNX (export/reference.py).

Tolerances are relative L2 between a compiled artifact and its reference (docs/DESIGN.md "Tolerances").
fp32: the exported graph run by ONNX Runtime vs the PyTorch module (1e-4: fp32 kernels differ in summation order only).
bf16: bf16 weights and activations on both sides but different kernels and accumulation order.
fp8, int4: the same quantized graph in two executors (torch in bf16, ONNX Runtime in fp32): as bf16, since
  the final latents differ by 0.7-0.9% (fp8) and 0.5% (int4) on the tiny model, against bf16's 0.5%; one
  FP8 block alone differs by 2.6-3.6%, because an FP8 code flips where bf16 and fp32 round differently.
"<precision> vs bf16": the quantized pipeline against the official bf16 one, final latents of the two
  distilled stages: the quantization error itself. Measured 1.1-1.4% (fp8), 3.3-4.4% (int4) and 3.3-4.6%
  (nvfp4) on the tiny model; at full size with random weights on the H100 3.2-3.9% (fp8), 10.7-13.5%
  (int4), 10.2-12.3% (nvfp4) (docs/BENCHMARKS.md).
"""

from pathlib import Path

import numpy as np

RELATIVE_L2 = {
    "fp32": 1e-4,
    "bf16": 2e-2,
    "fp8": 2e-2,
    "int4": 2e-2,
    "fp8 vs bf16": 5e-2,
    "int4 vs bf16": 1e-1,
    "nvfp4 vs bf16": 1e-1,
}


def read_reference(path: Path) -> tuple[dict, dict]:
    """(inputs by name, outputs by name as (values, sample indices or None))."""
    with np.load(path) as data:
        inputs = {k[len("input."):]: data[k] for k in data.files if k.startswith("input.")}
        outputs = {k[len("output."):]: (data[k], data[f"sample.{k[len('output.'):]}"]
                                         if f"sample.{k[len('output.'):]}" in data.files else None)
                   for k in data.files if k.startswith("output.")}
    return inputs, outputs


def relative_l2(actual: np.ndarray, expected: np.ndarray) -> float:
    actual, expected = np.asarray(actual, np.float64).reshape(-1), np.asarray(expected, np.float64).reshape(-1)
    return float(np.linalg.norm(actual - expected) / max(np.linalg.norm(expected), 1e-30))


def compare(outputs: dict[str, np.ndarray], reference: dict) -> dict[str, float]:
    """Relative L2 of each produced output against the stored reference (on its sample, if sampled)."""
    errors = {}
    for name, (expected, index) in reference.items():
        actual = np.asarray(outputs[name], np.float32)
        errors[name] = relative_l2(actual.reshape(-1)[index] if index is not None else actual, expected)
    return errors
