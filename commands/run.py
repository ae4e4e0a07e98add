"""`ltx-trt run`: check the request, pick and open an executor, generate, print the timing summary.

Everything the user can get wrong is refused (commands.request, commands.artifacts) before any model
work starts. Executors: `tensorrt` (the built engines, CUDA), `onnxruntime` (the exported ONNX; CPU,
or CUDA where that provider is installed), `torch` (the ltx-core modules from the model files); one
pipeline serves all three. The work is commands/session.py's, which the API, `--prompts` and `serve` share.
"""

from pathlib import Path
from typing import Callable

from ltx_trt.commands.request import RunRequest, check_output
from ltx_trt.commands.session import Session, guided_batch  # noqa: F401 (benchmarks import guided_batch from here)


def run(request: RunRequest, log: Callable[[str], None] = print) -> Path:
    """Generate the clip of `request` into request.output; returns its path. A session opened for this one
    request's graphs (commands/session.py), as every other caller of the pipeline uses it."""
    check_output(request.output)
    with Session(request.profile, request.source, request.artifacts, request.executor, request.compile,
                 only=request, log=log, engines=request.engines) as session:
        return session.run(request)
