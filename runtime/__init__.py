"""What runs a generation: executors, the chained parts with their weight stores, the denoising step and
loop, the sampler arithmetic, RoPE tables, media output, progress, device discovery.

Imports ltx_trt.core only (and torch, ltx-core / ltx-pipelines for their sampling and tokenizer code).
"""
