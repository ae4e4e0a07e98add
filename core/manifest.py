"""Manifests: JSON files written last and atomically, whose presence means a stage finished.

Also file hashing, and the temporary files of atomic writes: `.<target>.<pid>[-<random>].tmp` beside the
target, removed once their writer is gone (kill -9 skips every cleanup). Imports only the standard library
and core.errors.
"""

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

from ltx_trt.core.errors import UserError

MANIFEST_NAME = "manifest.json"
TMP_SUFFIX = ".tmp"
TMP_NAME = re.compile(r"\.(?P<target>.+)\.(?P<pid>\d+)(-[^.]*)?\.tmp")  # the pid is followed by "-" or ".tmp"


def sha256_file(path: Path, chunk_bytes: int = 16 << 20) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def write_atomic(path: Path, data: dict) -> None:
    """Write JSON to a temporary file in the same folder, fsync, then rename over `path`."""
    path = Path(path)
    remove_dead_temps(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; a manifest is as readable as any file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_dead_temps(folder: Path) -> list[Path]:
    """Delete the temporary files of atomic writes in `folder` whose writing process is gone; a live
    writer's stay (two builds into one folder), this process's included."""
    return remove_dead_writers(folder, TMP_NAME, own_alive=True)


def remove_dead_writers(folder: Path, name: re.Pattern, own_alive: bool) -> list[Path]:
    """Delete the entries of `folder` (not folders) whose name matches `name`, whose group "pid" names the
    process writing them, once that process is gone; `own_alive=False`: this process's count as stale."""
    removed = []
    for entry in sorted(Path(folder).iterdir()) if Path(folder).is_dir() else ():
        found = name.fullmatch(entry.name)
        if found is None or entry.is_dir():
            continue
        pid = int(found["pid"])
        if (own_alive if pid == os.getpid() else _alive(pid)):
            continue
        try:
            entry.unlink(missing_ok=True)
        except PermissionError:
            continue  # another user's, in a shared folder: theirs to remove
        removed.append(entry)
    return removed


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        return True  # another user's process
    return True


def read_manifest(path: Path, fix: str) -> dict:
    """Read a manifest; a missing or unreadable one is a user error whose hint is the command `fix`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no manifest at {path}", f"run: {fix}")
    try:
        return json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"manifest {path} is corrupt ({err})", f"run: {fix}") from err


def check_origin(manifest: dict, where: str, model_id: str, profile: str, profile_hash: str, fix: str) -> None:
    """Refuse a stage's manifest made for another model or profile, or from another version of the profile
    file (`profile_hash`, core.profiles.profile_sha256); `fix` is the command that remakes it."""
    for key, want in (("model_id", model_id), ("profile", profile)):
        if manifest.get(key) != want:
            raise UserError(f"{where} is for {key} {manifest.get(key)!r}, not {want!r}", f"run: {fix}")
    if manifest.get("profile_sha256") != profile_hash:
        name = profile.split("+")[0]  # Profile.folder: the name, then any --precision overrides
        raise UserError(f"{where} is stale: made from another version of profiles/{name}.toml (or other --precision)",
                        f"run: {fix}")
