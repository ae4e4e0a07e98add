"""The export stage: PyTorch (ltx-core) -> static-shape ONNX, one file per component and shape."""
