"""Engine packs: one archive per profile (engines, their ONNX, manifests, checksums), read as hostile input.

A pack is a gzip'd tar whose first member is `pack.json`: format, architecture (name + fingerprint),
profile (+ its hash), backend name and version, compute capabilities, precision per component, the
builder's memory report per engine, and the sha256 and size of every other member. `extract` reads the
archive once, as a stream, and refuses before anything is used: a member that is not a regular file, a
name that is not a plain relative path inside the pack (core.trust.confined), a duplicate, a member the
pack.json does not list, one larger than listed or than the limits, any sha256 mismatch, a listed
member missing (truncated archive), and an archive that does not decompress. Only then is the staging
folder renamed into place. No pickle, no code: JSON, ONNX and engine bytes. Pure Python (stdlib only).
"""

import hashlib
import json
import shutil
import tarfile
import zlib
from pathlib import Path

from ltx_trt.core.errors import UserError
from ltx_trt.core.manifest import sha256_file
from ltx_trt.core.trust import confined

PACK_FORMAT = 1
PACK_JSON = "pack.json"
FOLDERS = ("onnx", "engines")  # what a pack holds, as <artifacts>/<model>/<profile>/ holds them
MAX_JSON_BYTES = 16 << 20
MAX_MEMBER_BYTES = 8 << 30
MAX_MEMBERS = 10_000
CHUNK = 16 << 20


def archive_name(architecture: str, profile_folder: str) -> str:
    return f"ltx-trt-{architecture}-{profile_folder}.tar.gz"


def extract(archive: Path, dest: Path, fix: str) -> dict:
    """Unpack `archive` into `dest` (replaced only once everything checked out); returns its pack.json."""
    archive, dest = Path(archive), Path(dest)
    if not archive.is_file():
        raise UserError(f"engine pack not found: {archive}", fix)
    staging = dest.with_name(dest.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        meta = _unpack(archive, staging, fix)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(dest, ignore_errors=True)
    staging.rename(dest)
    return meta


def _unpack(archive: Path, staging: Path, fix: str) -> dict:
    where = f"engine pack {archive}"
    meta, seen = None, set()
    try:
        with tarfile.open(archive, "r|gz") as tar:
            for count, member in enumerate(tar, 1):
                if count > MAX_MEMBERS:
                    raise UserError(f"{where} has more than {MAX_MEMBERS} members", fix)
                if meta is None:
                    meta = _read_meta(tar, member, where, fix)
                    continue
                _check_member(member, meta, seen, staging, where, fix)
                _copy_checked(tar, member, meta["files"][member.name], staging / member.name, where, fix)
                seen.add(member.name)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
        raise UserError(f"{where} is truncated or not a pack ({type(err).__name__}: {err})", fix) from err
    if meta is None:
        raise UserError(f"{where} is empty", fix)
    missing = sorted(set(meta["files"]) - seen)
    if missing:
        raise UserError(f"{where} lacks {len(missing)} listed file(s), e.g. {missing[0]} (truncated?)", fix)
    return meta


def _read_meta(tar, member, where: str, fix: str) -> dict:
    if member.name != PACK_JSON or not member.isreg() or member.size > MAX_JSON_BYTES:
        raise UserError(f"{where} does not start with its {PACK_JSON}", fix)
    try:
        meta = json.loads(tar.extractfile(member).read())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"{where}: {PACK_JSON} is not JSON ({err})", fix) from err
    files = meta.get("files") if isinstance(meta, dict) else None
    good = isinstance(files, dict) and all(
        isinstance(v, dict) and isinstance(v.get("sha256"), str) and isinstance(v.get("size"), int)
        and 0 <= v["size"] <= MAX_MEMBER_BYTES for v in files.values())
    if not good or meta.get("format") != PACK_FORMAT:
        raise UserError(f"{where}: {PACK_JSON} is not an ltx-trt pack of format {PACK_FORMAT}", fix)
    return meta


def _check_member(member, meta: dict, seen: set, staging: Path, where: str, fix: str) -> None:
    name = member.name
    if not member.isreg():
        raise UserError(f"{where}: member {name!r} is not a regular file (links and devices are refused)", fix)
    top = name.split("/", 1)[0]
    if top not in FOLDERS or name.count("/") != 1:
        raise UserError(f"{where}: member {name!r} is not a file of {' or '.join(FOLDERS)}/", fix)
    confined(staging, name, where, fix)
    if name in seen or name not in meta["files"]:
        raise UserError(f"{where}: member {name!r} is {'repeated' if name in seen else 'not listed'} in "
                        f"{PACK_JSON}", fix)
    if member.size != meta["files"][name]["size"]:
        raise UserError(f"{where}: {name} holds {member.size} bytes, {PACK_JSON} lists "
                        f"{meta['files'][name]['size']}", fix)


def _copy_checked(tar, member, listed: dict, path: Path, where: str, fix: str) -> None:
    path.parent.mkdir(exist_ok=True)
    digest, source = hashlib.sha256(), tar.extractfile(member)
    with path.open("xb") as out:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != listed["sha256"]:
        raise UserError(f"{where}: {member.name} fails its checksum (corrupted)", fix)


def write(archive: Path, meta: dict, files: dict[str, Path]) -> Path:
    """A pack at `archive`: pack.json (meta + every file's sha256 and size) first, then the files (name ->
    path), in name order, with fixed owners and times; written beside and renamed (with a .sha256 file)."""
    archive = Path(archive)
    listed = {name: {"sha256": sha256_file(path), "size": path.stat().st_size} for name, path in sorted(files.items())}
    body = json.dumps({**meta, "format": PACK_FORMAT, "files": listed}, indent=1, sort_keys=True).encode()
    tmp = archive.with_name(f".{archive.name}.partial")
    with tarfile.open(tmp, "w:gz", compresslevel=6) as tar:
        _add_bytes(tar, PACK_JSON, body)
        for name, path in sorted(files.items()):
            info = _info(name, path.stat().st_size)
            with path.open("rb") as f:
                tar.addfile(info, f)
    tmp.replace(archive)
    archive.with_name(archive.name + ".sha256").write_text(f"{sha256_file(archive)}  {archive.name}\n")
    return archive


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime, info.uid, info.gid, info.uname, info.gname = size, 0o644, 0, 0, 0, "", ""
    return info


def _add_bytes(tar, name: str, data: bytes) -> None:
    import io

    tar.addfile(_info(name, len(data)), io.BytesIO(data))

