"""`ltx-trt pack` and `run --engines PACK`: a profile's weightless engines as one archive, and its checks.

`make_pack` archives an architecture export (`export --architecture`, so no file in it holds a weight)
and its engines (core/pack.py writes pack.json with every checksum). `install_pack` unpacks an archive
into <artifacts>/packs/<name>/ through core.pack.extract (hostile input: refused by checksum before
anything is used), then refuses, one line each with what to do, a pack made for another profile (or
another version of it), another architecture than the model files', another backend version than the
one installed, or compute capabilities that exclude this GPU. Imports core and runtime only.
"""

import importlib.metadata as md
from pathlib import Path

from ltx_trt.core import pack
from ltx_trt.core.errors import UserError
from ltx_trt.core.manifest import MANIFEST_NAME, read_manifest
from ltx_trt.core.profiles import Profile, profile_sha256
from ltx_trt.core.source import engines_dir, onnx_dir
from ltx_trt.core.trust import Verifier, check_key
from ltx_trt.runtime import devices

BUILD = "make packs (or: ltx-trt export --architecture NAME, build-engines --architecture NAME, pack)"


def make_pack(architecture: str, profile: Profile, artifacts: Path, out_dir: Path, log=print) -> Path:
    """Archive <artifacts>/<architecture>/<profile>/{onnx,engines} into out_dir; returns the archive's path."""
    fix = f"run: ltx-trt export --gpu {profile.flags} --architecture {architecture}, then build-engines the same way"
    onnx, engines = onnx_dir(artifacts, architecture, profile.folder), engines_dir(artifacts, architecture, profile.folder)
    exported = read_manifest(onnx / MANIFEST_NAME, fix)
    built = read_manifest(engines / MANIFEST_NAME, fix)
    if (exported.get("architecture") or {}).get("name") != architecture:
        raise UserError(f"{onnx} is not an export of the architecture alone", fix)
    files = {f"onnx/{MANIFEST_NAME}": onnx / MANIFEST_NAME, f"engines/{MANIFEST_NAME}": engines / MANIFEST_NAME}
    checked_onnx, checked_engines = Verifier(onnx), Verifier(engines)
    for key, entry in exported["graphs"].items():
        for item in [entry, *entry.get("data_files", [])]:
            files[f"onnx/{item['file']}"] = checked_onnx.verify(item["file"], item["sha256"], str(onnx), fix)
    for key, record in built["engines"].items():
        check_key(key, str(engines), fix)
        files[f"engines/{record['file']}"] = checked_engines.verify(record["file"], record["sha256"], str(engines), fix)
        for extra in (f"{key}.build.json", f"{key}.build.log"):
            if (engines / extra).is_file():
                files[f"engines/{extra}"] = engines / extra
    meta = {"architecture": exported["architecture"], "profile": profile.folder, "profile_sha256": profile_sha256(profile),
            "backend": built["backend"], "compute_capabilities": built["compute_capabilities"],
            "precision": dict(profile.precision), "ltx_trt": md.version("ltx-trt"),
            "memory": {key: record.get("memory") for key, record in built["engines"].items()}}
    out_dir.mkdir(parents=True, exist_ok=True)
    path = pack.write(out_dir / pack.archive_name(architecture, profile.folder), meta, files)
    log(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB, {len(files)} files)")
    return path


def install_pack(archive: Path, artifacts: Path, profile: Profile, architecture: str, executor: str) -> Path:
    """Unpack and check an engine pack for a run; returns the folder holding its onnx/ and engines/."""
    archive = Path(archive)
    name = archive.name.removesuffix(".tar.gz")
    dest = Path(artifacts) / "packs" / name
    meta = pack.extract(archive, dest, f"download the pack again, or build your own: {BUILD}")
    check_pack(meta, archive, profile, architecture, executor)
    return dest


def check_pack(meta: dict, archive: Path, profile: Profile, architecture: str, executor: str) -> None:
    """Refuse a pack for another profile, architecture, backend version or GPU, saying what differs."""
    where = f"engine pack {archive.name}"
    if meta.get("profile") != profile.folder or meta.get("profile_sha256") != profile_sha256(profile):
        raise UserError(f"{where} is for profile {meta.get('profile')!r} (or another version of it), this run is "
                        f"{profile.folder!r}", f"use the pack of {profile.folder} from the same ltx-trt release")
    arch = meta.get("architecture") or {}
    if arch.get("fingerprint") != architecture:
        raise UserError(f"{where} is for architecture {arch.get('name')!r} ({str(arch.get('fingerprint'))[:12]}), the "
                        f"model files are {architecture[:12]}", f"use the pack of your model's architecture, or {BUILD}")
    backend = meta.get("backend") or {}
    installed = devices.backend_version(profile.backend)
    if backend.get("name") != profile.backend or (installed is not None and backend.get("version") != installed):
        raise UserError(f"{where} was built with {backend.get('name')} {backend.get('version')}, this machine has "
                        f"{profile.backend} {installed}", f"pip install {profile.backend}=={backend.get('version')}, "
                        "or use the pack built with your version")
    gpu = devices.cuda_gpu()
    if executor == "tensorrt" and gpu is not None and gpu.compute_capability not in meta.get("compute_capabilities", []):
        raise UserError(f"{where} holds engines for compute capability {', '.join(meta.get('compute_capabilities', []))},"
                        f" this GPU ({gpu.name}) is {gpu.compute_capability}",
                        "use the pack of your GPU's profile (see `ltx-trt doctor`)")
