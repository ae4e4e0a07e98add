"""What tests compare compiled artifacts with: the tolerance table (one, per precision, in the package:
core/tolerances.py, shared with `ltx-trt verify`) and the reader of the reference inputs/outputs export
writes beside each ONNX (export/reference.py).
"""

import numpy as np

from ltx_trt.core.tolerances import RELATIVE_L2
from ltx_trt.export.reference import read_reference

__all__ = ["RELATIVE_L2", "read_reference", "relative_l2", "compare"]


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
