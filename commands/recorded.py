"""References recorded from one clip, for `verify --engines PACK`: an engine pack's ONNX was exported from the
architecture alone, so no reference inputs and outputs were stored beside it. verify makes them on the spot:
one distilled image-to-video clip at the profile's first bucket with the torch executor (ltx-core's modules on
the user's own files, the PyTorch reference) while `Recorder` keeps the first call of every graph the clip
runs: its inputs (activations and the weights bound to it) and its outputs. Each engine (or, without a GPU,
the pack's ONNX on ONNX Runtime) is then run on those inputs. Graphs the clip does not run (other buckets, the
guided graphs of the dev pipelines) are reported as not checked. Imports torch, commands (the session).
"""

import tempfile
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ltx_trt.core.profiles import Profile
from ltx_trt.core.source import ModelSource

PROMPT = "a red fox runs through fresh snow, birdsong"
NOT_RECORDED = "skipped (the recorded clip does not run it)"


class Recorder:
    """An executor wrapper that keeps each graph's first call (host copies in the graph's own dtypes)."""

    def __init__(self, inner) -> None:
        self.inner, self.calls = inner, {}

    def run(self, graph_key: str, inputs: dict[str, torch.Tensor], outputs: dict[str, torch.Tensor]) -> None:
        self.inner.run(graph_key, inputs, outputs)
        capturing = torch.cuda.is_available() and torch.cuda.is_current_stream_capturing()
        if graph_key not in self.calls and not capturing:  # a captured step replays calls already kept
            self.calls[graph_key] = ({n: t.detach().cpu().clone() for n, t in inputs.items()},
                                     {n: t.detach().cpu().clone() for n, t in outputs.items()})

    def release(self, graph_keys: list[str]) -> None:
        self.inner.release(graph_keys)


def record_clip(profile: Profile, source: ModelSource, artifacts: Path,
                log: Callable[[str], None]) -> dict[str, tuple[dict, dict]]:
    """Graph key -> (inputs, outputs) of its first call in one recorded clip (torch executor)."""
    from ltx_trt.commands.api import clip_request
    from ltx_trt.commands.session import Session

    bucket = profile.buckets[0]
    log(f"recording the PyTorch reference: one image-to-video clip at {bucket.name} with the torch executor")
    with tempfile.TemporaryDirectory() as folder:
        image = Path(folder) / "reference.png"
        _write_image(image, bucket.width, bucket.height)
        quiet = lambda line: None  # noqa: E731 - the clip's own progress is not the report
        with Session(profile, source, artifacts, executor="torch", log=quiet) as session:
            recorder = Recorder(session.opened.executor.inner)
            session.opened.executor.inner = recorder
            request = clip_request(session.base, PROMPT, output=Path(folder) / "reference.mp4", width=bucket.width,
                                   height=bucket.height, frames=bucket.frames, images=(str(image),), log=quiet)
            session.run(request)
    log(f"recorded {len(recorder.calls)} graphs")
    return recorder.calls


def as_reference(call: tuple[dict, dict]) -> tuple[dict, dict]:
    """A recorded call in read_reference's form: inputs as arrays, outputs as (values, None)."""
    inputs, outputs = call
    return {n: _array(t) for n, t in inputs.items()}, {n: (_array(t).astype(np.float64), None) for n, t in outputs.items()}


def _array(tensor: torch.Tensor) -> np.ndarray:
    """numpy has no bf16 or FP8: those go through fp32, which holds them exactly."""
    if tensor.dtype in (torch.bfloat16, torch.float16) or tensor.dtype.is_floating_point and tensor.element_size() == 1:
        tensor = tensor.float()
    return tensor.numpy()


def _write_image(path: Path, width: int, height: int) -> None:
    """A seeded picture with structure (gradients and noise), so the video encoder's output is not flat."""
    from PIL import Image

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), rng.integers(0, 256, (height, width))],
                      axis=-1)
    Image.fromarray(pixels.astype(np.uint8)).save(path)
