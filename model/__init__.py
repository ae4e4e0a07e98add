"""ltx-core modules as plain-tensor components: construction, strict loading, export overrides.

Used by export (to trace) and by the runtime's torch executor (to run). Imports neither
ltx_trt.export nor ltx_trt.build_engines.
"""
