"""ltx-trt: an ahead-of-time compiled TensorRT pipeline for LTX-2.3."""

__version__ = "0.1.0"
