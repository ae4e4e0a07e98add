"""ltx-trt's Python API: open a pipeline once, then generate any number of clips with it.

    from ltx_trt.api import open_pipeline

    with open_pipeline("rtx4090", checkpoint="ltx-2.3-22b-distilled.safetensors", gemma="gemma-3-12b") as pipe:
        pipe.generate("a red fox runs through fresh snow", output="fox.mp4", seed=3)

Arguments are checked as `ltx-trt run` checks its flags (the same one-line UserError, ltx_trt.core.errors).
What stays loaded between clips: README "Python API" and docs/DESIGN.md "Load once, generate many".
"""

from ltx_trt.commands.api import Pipeline, open_pipeline
from ltx_trt.core.errors import UserError

__all__ = ["Pipeline", "UserError", "open_pipeline"]
