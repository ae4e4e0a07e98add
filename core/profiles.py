"""GPU profiles: TOML files in profiles/, loaded strictly into frozen dataclasses.

A profile says what the engines are for (GPU, backend, precision per component, memory, shape
buckets) and nothing else. Unknown, missing or mistyped keys are errors naming the file and key.
Imports only the standard library and core.
"""

import dataclasses
import hashlib
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ltx_trt.core.backends import BACKENDS
from ltx_trt.core.components import COMPONENTS
from ltx_trt.core.errors import UserError
from ltx_trt.core.precision import check_precision

PROFILES_DIR = Path(__file__).resolve().parent.parent / "profiles"


@dataclass(frozen=True)
class Bucket:
    """One static output shape: pixels, frames (8k+1) and frame rate."""

    name: str
    width: int
    height: int
    frames: int
    fps: int


@dataclass(frozen=True)
class Memory:
    weight_streaming: bool
    resident_gib: float


@dataclass(frozen=True)
class Profile:
    name: str
    gpu: str
    compute_capabilities: tuple[str, ...]
    vram_gib: float
    backend: str
    precision: dict  # component -> precision name; a plain dict kept read-only by convention
    memory: Memory
    buckets: tuple[Bucket, ...]
    overrides: tuple[tuple[str, str], ...] = ()  # (component, precision) from --precision, sorted
    # appended keyframe latent frames its transformer graphs are made for, besides the plain ones (--keyframes)
    keyframes: int = 0

    @property
    def folder(self) -> str:
        """The artifacts folder name and manifest key: the profile's name, plus any precision overrides and
        keyframe count."""
        keyframes = f"+keyframes-{self.keyframes}" if self.keyframes else ""
        return self.name + "".join(f"+{component}-{precision}" for component, precision in self.overrides) + keyframes

    @property
    def flags(self) -> str:
        """The command-line flags that name this profile (for the commands printed in hints)."""
        keyframes = f" --keyframes {self.keyframes}" if self.keyframes else ""
        return self.name + "".join(f" --precision {c}={p}" for c, p in self.overrides) + keyframes

    def bucket(self, width: int, height: int, frames: int) -> Bucket:
        for bucket in self.buckets:
            if (bucket.width, bucket.height, bucket.frames) == (width, height, frames):
                return bucket
        listed = ", ".join(f"{b.width}x{b.height}x{b.frames}" for b in self.buckets)
        raise UserError(
            f"no bucket {width}x{height}x{frames} in profile {self.name!r}",
            f"use one of: {listed} (or add a [[bucket]] to profiles/{self.name}.toml and re-export)",
        )


def profile_sha256(profile: Profile) -> str:
    """sha256 of what a profile's ONNX and engines depend on: export records it, later stages check it.

    That is the compute capabilities, backend, precision, the builder's weight-streaming flag and the
    buckets. The GPU's display name, `vram_gib` and `resident_gib` only steer `run` (how much of the
    weights stays on the GPU), so editing them, or comments, leaves the artifacts current.
    """
    content = {"compute_capabilities": list(profile.compute_capabilities), "backend": profile.backend,
               "precision": profile.precision, "weight_streaming": profile.memory.weight_streaming,
               "buckets": [dataclasses.asdict(b) for b in profile.buckets]}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def with_precision(profile: Profile, overrides: dict[str, str]) -> Profile:
    """The profile with some components in another precision (`--precision transformer=bf16`), validated as a
    profile's own; its artifacts go to their own folder (Profile.folder)."""
    if not overrides:
        return profile
    where = f"--precision for profile {profile.name!r}"
    for component, precision in overrides.items():
        if component not in COMPONENTS:
            raise UserError(f"{where}: unknown component {component!r}", f"use one of: {', '.join(COMPONENTS)}")
        check_precision(component, precision, profile.compute_capabilities, where)
    changed = {c: p for c, p in overrides.items() if profile.precision[c] != p}
    merged = dict(sorted({**dict(profile.overrides), **changed}.items()))
    return dataclasses.replace(profile, precision={**profile.precision, **changed}, overrides=tuple(merged.items()))


def with_keyframes(profile: Profile, keyframes: int) -> Profile:
    """The profile whose transformer graphs also come in a variant for `keyframes` appended keyframe latent frames
    (`--keyframes N`; 0: none); its artifacts go to their own folder (Profile.folder). The range is checked by
    the CLI's range table."""
    return dataclasses.replace(profile, keyframes=keyframes)


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.toml"))


def load_profile(name: str, directory: Path = PROFILES_DIR) -> Profile:
    path = directory / f"{name}.toml"
    if not path.is_file():
        raise UserError(
            f"unknown GPU profile {name!r}",
            f"choose one of: {', '.join(available_profiles())}",
        )
    return parse_profile(path)


def parse_profile(path: Path) -> Profile:
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{path}: not valid TOML: {err}", "fix the file's syntax") from err
    table = _Table(data, str(path))
    gpu = table.take("gpu", str)
    capabilities = tuple(table.take("compute_capabilities", list, item=str))
    profile = Profile(
        name=path.stem,
        gpu=gpu,
        compute_capabilities=capabilities,
        vram_gib=float(table.take("vram_gib", (int, float))),
        backend=table.take("backend", str, choices=BACKENDS),
        precision=_parse_precision(table.sub("precision"), capabilities),
        memory=_parse_memory(table.sub("memory")),
        buckets=tuple(_parse_bucket(_Table(b, f"{path} [[bucket]] #{i + 1}"))
                      for i, b in enumerate(table.take("bucket", list, item=dict))),
    )
    table.finish()
    if not profile.buckets:
        raise UserError(f"{path}: no [[bucket]] tables", "add at least one bucket")
    return profile


def _parse_precision(table: "_Table", compute_capabilities: tuple[str, ...]) -> dict:
    precision = {}
    for component in COMPONENTS:
        precision[component] = table.take(component, str)
        check_precision(component, precision[component], compute_capabilities, table.where)
    table.finish()
    return precision


def _parse_memory(table: "_Table") -> Memory:
    memory = Memory(table.take("weight_streaming", bool), float(table.take("resident_gib", (int, float))))
    table.finish()
    return memory


def _parse_bucket(table: "_Table") -> Bucket:
    bucket = Bucket(
        name=table.take("name", str),
        width=table.take("width", int),
        height=table.take("height", int),
        frames=table.take("frames", int),
        fps=table.take("fps", int),
    )
    table.finish()
    if bucket.frames % 8 != 1 or bucket.width % 64 or bucket.height % 64:
        raise UserError(
            f"{table.where}: bucket {bucket.width}x{bucket.height}x{bucket.frames} is not valid",
            "frames must be 8k+1 and width/height multiples of 64 (two-stage pipeline)",
        )
    return bucket


class _Table:
    """A TOML table consumed key by key, so that leftovers can be reported as unknown keys."""

    def __init__(self, data: dict, where: str) -> None:
        self.data = dict(data)
        self.where = where

    def take(self, key: str, kind, item=None, choices=None):
        if key not in self.data:
            raise UserError(f"{self.where}: missing key {key!r}", "see profiles/rtx4090.toml for the layout")
        value = self.data.pop(key)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise UserError(f"{self.where}: key {key!r} has the wrong type ({type(value).__name__})",
                            f"expected {getattr(kind, '__name__', kind)}")
        if item is not None and not all(isinstance(v, item) for v in value):
            raise UserError(f"{self.where}: key {key!r} must be a list of {item.__name__}", "fix its items")
        if choices is not None and value not in choices:
            raise UserError(f"{self.where}: key {key!r} = {value!r} is not allowed",
                            f"use one of: {', '.join(choices)}")
        return value

    def sub(self, key: str) -> "_Table":
        return _Table(self.take(key, dict), f"{self.where} [{key}]")

    def finish(self) -> None:
        if self.data:
            raise UserError(f"{self.where}: unknown key {sorted(self.data)[0]!r}",
                            "remove it or check its spelling")
