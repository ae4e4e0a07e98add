"""The command bodies that wire the layers together: `run` (model files + runtime executors) and `doctor`.

The one package above model/ and runtime/; the CLI (ltx_trt/cli.py) calls into it.
"""
