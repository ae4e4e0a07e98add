"""The build stage: ONNX -> TensorRT engines for one GPU profile. Never imports ltx_trt.export."""
