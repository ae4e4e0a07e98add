"""The shared vocabulary every stage speaks: errors, components, profiles, shapes and dtypes, the graph
plan, manifests, checkpoint headers, the model source and the artifacts folder layout.

Pure Python at import (torch only inside `dtypes.torch_dtype`); imports nothing else of ltx_trt.
"""
