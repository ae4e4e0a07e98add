"""What a `run` asks for, checked before any model work: profile, bucket, output path, GPU budget.

Everything the user can get wrong here (frames, size, bucket, output path, a profile no GPU fits) is a
one-line UserError with a hint. Imports core and runtime.devices.
"""

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from ltx_trt.core.errors import UserError
from ltx_trt.core.profiles import Bucket, Profile, available_profiles, load_profile
from ltx_trt.core.source import ModelSource
from ltx_trt.runtime import devices

EXECUTORS = ("auto", "tensorrt", "onnxruntime", "torch")
DEFAULT_SEED = 10  # ltx_pipelines.utils.constants.PipelineParams.seed (a test keeps them equal)


@dataclass(frozen=True)
class RunRequest:
    prompt: str
    profile: Profile
    source: ModelSource
    artifacts: Path
    bucket: Bucket
    seed: int
    executor: str  # one of EXECUTORS
    output: Path
    compile: str = "auto"  # torch executor on CUDA: torch.compile the block graphs ("auto": the quantized ones)


def select_profile(name: str | None) -> Profile:
    """The named profile, or the one that fits this machine's GPU (compute capability and VRAM)."""
    if name is not None:
        return load_profile(name)
    gpu = devices.cuda_gpu()
    fitting = devices.fitting_profiles(gpu, [load_profile(n) for n in available_profiles()])
    if not fitting:
        found = f"{gpu.name}, compute capability {gpu.compute_capability}" if gpu else "no CUDA GPU"
        raise UserError(f"no --gpu given and no profile fits this machine ({found})",
                        f"pass --gpu PROFILE, one of: {', '.join(available_profiles())}")
    return max(fitting, key=lambda p: p.vram_gib)


def select_bucket(profile: Profile, width: int | None, height: int | None, frames: int | None) -> Bucket:
    """The profile's bucket for the asked size; what is not given comes from the profile's first bucket."""
    first = profile.buckets[0]
    width, height, frames = width or first.width, height or first.height, frames or first.frames
    if frames % 8 != 1:
        below = 8 * ((frames - 1) // 8) + 1
        raise UserError(f"--frames {frames} is not 8k+1 (the video VAE compresses time by 8, plus the first frame)",
                        f"use e.g. {below} or {below + 8}")
    for flag, value in (("--width", width), ("--height", height)):
        if value % 64:
            raise UserError(f"{flag} {value} is not a multiple of 64 (stage 1 runs at half size on 32-pixel latents)",
                            f"use e.g. {64 * max(1, round(value / 64))}")
    return profile.bucket(width, height, frames)


def with_resident_gib(profile: Profile, resident_gib: float | None) -> Profile:
    """The profile with another GPU memory budget for the run (None: the profile's own)."""
    if resident_gib is None:
        return profile
    return dataclasses.replace(profile, memory=dataclasses.replace(profile.memory, resident_gib=resident_gib))


def check_output(path: Path) -> None:
    """Refuse an output path that cannot be written, before any work (the file appears only when complete)."""
    path = Path(path)
    hint = "pass --output with a file name in a writable folder"
    if path.is_dir():
        raise UserError(f"output path {path} is a folder", hint)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"cannot write {path}: folder {folder} does not exist", hint)
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UserError(f"cannot write {path}: permission denied", hint)
