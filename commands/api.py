"""The Python API (re-exported as ltx_trt.api): open a pipeline once, generate any number of clips.

Every argument is checked by the rules `ltx-trt run` applies to its flags (commands.request), so a bad
value is the same one-line UserError, raised before any model work. `run --prompts` and `serve` build
their clips here too. Imports core, runtime.devices and the other command modules.
"""

from pathlib import Path
from typing import Callable

from ltx_trt.commands import request as checks
from ltx_trt.commands.images import check_keyframes, image_conditions
from ltx_trt.commands.request import EXECUTORS, GUIDED_ONLY, RunRequest
from ltx_trt.core.errors import UserError
from ltx_trt.core.pipelines import PIPELINES
from ltx_trt.core.profiles import with_keyframes, with_precision

COMPILE = ("auto", "on", "off")


class Pipeline:
    """A profile's executor opened once (commands/session.py); `generate` renders one clip per call."""

    def __init__(self, session) -> None:
        self.session = session

    def generate(self, prompt: str, *, output: str | Path = "out.mp4", seed: int | None = None,
                 width: int | None = None, height: int | None = None, frames: int | None = None,
                 pipeline: str | None = None, force_pipeline: bool = False, loras: tuple[str, ...] = (),
                 images: tuple[str, ...] = (), image_crf: int | None = None, **guidance) -> Path:
        """Render `prompt` into `output` (an mp4 with sound); returns its path. width/height/frames pick one of
        the profile's buckets (default: its first); pipeline is distilled, two-stage or hq (default: from the
        checkpoint); loras are FILE[:STRENGTH]; images are PATH[:FRAME[:STRENGTH]] with image_crf as run's
        --image / --image-crf; guidance takes run's guidance options by name (e.g.
        video_cfg_guidance_scale=3.0, negative_prompt="...", num_inference_steps=20, distilled_lora=PATH)."""
        request = clip_request(self.session.base, prompt, output=output, seed=seed, width=width, height=height,
                               frames=frames, pipeline=pipeline, force_pipeline=force_pipeline, loras=loras,
                               images=images, image_crf=image_crf, guidance=guidance, log=self.session.log)
        return self.session.run(request)

    def close(self) -> None:
        """Release the executor; the pipeline cannot generate after this."""
        self.session.close()

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_pipeline(gpu: str | None = None, *, model: str | None = None, checkpoint: str | Path | None = None,
                  gemma: str | Path | None = None, upsampler: str | Path | None = None,
                  artifacts: str | Path = "artifacts", executor: str = "auto", compile: str = "auto",
                  resident_gib: float | None = None, precision: dict[str, str] | None = None, keyframes: int = 0,
                  log: Callable[[str], None] = print) -> Pipeline:
    """Open the executor for every bucket and pipeline of the profile `gpu` (default: the one that fits this
    GPU), over the model (model="tiny", or checkpoint + gemma [+ upsampler]) and its artifacts; `keyframes`: also
    the transformer graphs for that many appended keyframes (`export --keyframes N`'s artifacts)."""
    from ltx_trt.commands.session import Session  # torch, the model files and the executors
    from ltx_trt.core import source

    _one_of("executor", executor, EXECUTORS)
    _one_of("compile", compile, COMPILE)
    _one_of("model", model, ("tiny", None))
    profile = with_precision(checks.select_profile(gpu), dict(precision or {}))
    checks.check_numbers(profile, {"--resident-gib": resident_gib, "--keyframes": keyframes})
    profile = with_keyframes(profile, keyframes)
    profile = checks.with_resident_gib(profile, resident_gib)
    src = source.resolve(model, _path(checkpoint), _path(gemma), _path(upsampler), Path(artifacts))
    return Pipeline(Session(profile, src, Path(artifacts), executor, compile, log=log))


def clip_request(base: RunRequest, prompt: str, *, output: str | Path, seed: int | None = None,
                 width: int | None = None, height: int | None = None, frames: int | None = None,
                 pipeline: str | None = None, force_pipeline: bool = False, loras: tuple[str, ...] = (),
                 images: tuple[str, ...] = (), image_crf: int | None = None, guidance: dict | None = None,
                 log: Callable[[str], None] = print) -> RunRequest:
    """One clip's RunRequest over `base` (profile, model, artifacts, executor), checked as `run` checks its
    flags; logs the pipeline it picked and its guidance, as `run` does."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise UserError("the prompt is empty", "describe the video and its sound in a few words")
    guidance = dict(guidance or {})
    unknown = sorted(set(guidance) - set(GUIDED_ONLY))
    if unknown:
        raise UserError(f"unknown option {unknown[0]!r}", f"use one of: {', '.join(GUIDED_ONLY)}")
    _one_of("pipeline", pipeline, (*PIPELINES, None))
    profile = base.profile
    checks.check_numbers(profile, {"--seed": seed, "--image-crf": image_crf})
    bucket = checks.select_bucket(profile, width, height, frames)
    conditions = image_conditions(tuple(images), image_crf, bucket)
    flags = {name: guidance.get(name) for name in GUIDED_ONLY}
    fields, lines = checks.pipeline_fields(base.source, pipeline, force_pipeline, tuple(loras), flags)
    checks.check_output(Path(output))
    for line in lines:
        log(line)
    check_keyframes(profile, conditions, fields["pipeline"])
    return RunRequest(prompt, profile, base.source, base.artifacts, bucket,
                      checks.DEFAULT_SEED if seed is None else int(seed), base.executor, Path(output), base.compile,
                      images=conditions, **fields)


def _one_of(name: str, value, allowed: tuple) -> None:
    if value not in allowed:
        listed = ", ".join(str(a) for a in allowed if a is not None)
        raise UserError(f"{name} {value!r} is not one of: {listed}", f"pass {name}= one of: {listed}")


def _path(value: str | Path | None) -> Path | None:
    return None if value is None else Path(value)
