"""ltx-core modules as plain-tensor components: construction, strict loading, export overrides, weight
readers for the runtime's weight stores, and the embedded tiny / synthetic model files.

Imports ltx_trt.core only (and torch, ltx-core, transformers).
"""
