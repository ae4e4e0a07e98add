"""What a `run` asks for, checked before any model work: profile, bucket, output path, GPU budget.

Everything the user can get wrong here (a number out of range, frames, size, bucket, output path, a
profile no GPU fits) is a one-line UserError whose hint names valid values. Imports core, runtime.devices
and runtime.output.
"""

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from ltx_trt.core.errors import UserError
from ltx_trt.core.profiles import Bucket, Profile, available_profiles, load_profile
from ltx_trt.core.source import ModelSource
from ltx_trt.runtime import devices, output

EXECUTORS = ("auto", "tensorrt", "onnxruntime", "torch")
DEFAULT_SEED = 10  # ltx_pipelines.utils.constants.PipelineParams.seed (a test keeps them equal)
# torch.Generator.manual_seed takes -2**63 .. 2**64 - 1 and maps a negative seed s to 2**64 + s: these
# are all the distinct seeds, each with one name (anything else raises in manual_seed, after loading).
SEEDS = (0, 2**64 - 1)


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


def numeric_ranges(profile: Profile) -> dict[str, tuple[float, float, str]]:
    """Every numeric flag of `run` and `calibrate`: (lowest, highest, hint), inclusive, for this profile."""
    ranges = {}
    for name in ("width", "height", "frames"):
        values = sorted({getattr(b, name) for b in profile.buckets})
        ranges[f"--{name}"] = (values[0], values[-1], _one_of(profile, values))
    vram = f"{profile.vram_gib:g}"
    return {**ranges,
            "--seed": (*SEEDS, f"use a seed from {SEEDS[0]} to {SEEDS[1]} (64 bits)"),
            "--resident-gib": (1.0, profile.vram_gib, f"use 1 to {vram} (GiB; the {profile.gpu} has {vram})")}


def check_numbers(profile: Profile, given: dict[str, float | None]) -> None:
    """Refuse a numeric flag out of its range (zero, negative, NaN, infinite, too large) before any loading."""
    ranges = numeric_ranges(profile)
    for flag, value in given.items():
        lowest, highest, hint = ranges[flag]
        if value is not None and not lowest <= value <= highest:  # NaN compares False: refused too
            raise UserError(f"{flag} {value} is out of range ({lowest} to {highest})", hint)


def select_bucket(profile: Profile, width: int | None, height: int | None, frames: int | None) -> Bucket:
    """The profile's bucket for the asked size; what is not given comes from the profile's first bucket."""
    first = profile.buckets[0]
    width, height, frames = (first.width if width is None else width, first.height if height is None else height,
                             first.frames if frames is None else frames)
    check_numbers(profile, {"--width": width, "--height": height, "--frames": frames})
    hints = {flag: hint for flag, (_, _, hint) in numeric_ranges(profile).items()}
    if frames % 8 != 1:
        raise UserError(f"--frames {frames} is not 8k+1 (the video VAE compresses time by 8, plus the first frame)",
                        hints["--frames"])
    for flag, value in (("--width", width), ("--height", height)):
        if value % 64:
            raise UserError(f"{flag} {value} is not a multiple of 64 (stage 1 runs at half size on 32-pixel latents)",
                            hints[flag])
    return profile.bucket(width, height, frames)


def _one_of(profile: Profile, values: list[int]) -> str:
    listed = ", ".join(map(str, values))
    return f"use {listed} (profile {profile.name!r})" if len(values) == 1 else \
        f"use one of: {listed} (profile {profile.name!r})"


def with_resident_gib(profile: Profile, resident_gib: float | None) -> Profile:
    """The profile with another GPU memory budget for the run (None: the profile's own)."""
    if resident_gib is None:
        return profile
    return dataclasses.replace(profile, memory=dataclasses.replace(profile.memory, resident_gib=resident_gib))


def check_output(path: Path) -> None:
    """Refuse an output path that cannot be written, before any work (the file appears only when complete):
    a folder, FIFO, device or socket (or a symlink to one) is never replaced."""
    path = Path(path)
    hint = output.HINT
    output.refuse_special(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"cannot write {path}: folder {folder} does not exist", hint)
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UserError(f"cannot write {path}: permission denied", hint)
