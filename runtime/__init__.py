"""The lowest layer: shapes, profiles, manifests, errors, executors and the denoising loop.

Imports neither ltx_trt.export nor ltx_trt.build_engines.
"""
