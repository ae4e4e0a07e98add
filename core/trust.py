"""What ltx-trt trusts of an artifacts folder, and how it checks the rest (docs/DESIGN.md "Trust").

Every file name read from a manifest, a build record or an ONNX file's external-data table goes through
`confined` before it is opened: a plain name, or a relative path that stays inside its folder once
symlinks are resolved. Files a manifest lists are checked by content (`verify`): sha256 against the
manifest, re-hashed only when the file's identity (size, mtime, ctime, inode) changes, and the identity
of the last good hash is remembered in a small JSON file beside them (a cache, rebuilt if damaged).
Imports only the standard library and core.
"""

import json
import re
from pathlib import Path

from ltx_trt.core.checkpoint import read_header
from ltx_trt.core.errors import UserError
from ltx_trt.core.manifest import sha256_file, write_atomic

FINGERPRINT = "fingerprint:"  # a weights file hard-linked to the checkpoint: its header fingerprint, not sha256
VERIFIED_NAME = ".verified.json"  # name -> [sha256, size, mtime_ns, ctime_ns, inode] of the last good hash
GRAPH_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+x-]*")  # e.g. transformer.768x512-5s.stage1.block_fp8


def confined(folder: Path, name, where: str, fix: str) -> Path:
    """`folder / name` for a name read from a file; refuses an absolute name, any `..`, an empty or
    non-string name, and anything that resolves outside `folder` (symlinks followed)."""
    bad = not isinstance(name, str) or not name or "\\" in name or "\0" in name
    parts = Path(name).parts if not bad else ()
    if bad or Path(name).is_absolute() or ".." in parts:
        raise UserError(f"{where} names the file {name!r}, which is not a path inside {folder}", _hint(fix))
    path = Path(folder) / name
    root = Path(folder).resolve()
    if not path.resolve().is_relative_to(root):
        raise UserError(f"{where} names {name!r}, which leads outside {folder} (through a symlink)", _hint(fix))
    return path


def check_key(key, where: str, fix: str) -> str:
    """A graph key from a manifest: a name of dots and dashes that can be a file stem, never a path."""
    if not isinstance(key, str) or not GRAPH_KEY.fullmatch(key) or ".." in key:
        raise UserError(f"{where} lists a graph named {key!r}, which is not a graph name", _hint(fix))
    return key


def identity(path: Path) -> list[int]:
    """What changes whenever a file's bytes may have: size, mtime, ctime (not settable) and inode."""
    stat = Path(path).stat()
    return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]


class Verifier:
    """Checks files of one folder against recorded sha256s, hashing each file once per change."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.changed = Path(folder), False
        self.known = _read_known(self.folder / VERIFIED_NAME)

    def verify(self, name: str, sha256: str, where: str, fix: str) -> Path:
        """The confined path of `name`, refused unless its content matches `sha256` (core.trust.content_id)."""
        path = confined(self.folder, name, where, fix)
        if not isinstance(sha256, str) or not sha256:
            raise UserError(f"{where} lists {name!r} without its hash", _hint(fix))
        if not path.is_file():
            raise UserError(f"{path} is listed in {where} but missing", _hint(fix))
        if not self.matches(name, sha256):
            raise UserError(f"{path} differs from {where} (changed, corrupted or truncated since it was written)",
                            _hint(fix))
        return path

    def matches(self, name: str, sha256: str) -> bool:
        """Whether the regular file `name` of this folder (already confined) has the recorded content."""
        path = self.folder / name
        if not path.is_file():
            return False
        now = identity(path)
        if self.known.get(name) == [sha256, *now]:
            return True
        if content_id(path, sha256) != sha256:
            return False
        self.known[name], self.changed = [sha256, *now], True
        return True

    def save(self) -> None:
        """Remember the identities just verified; a read-only folder only costs a re-hash next time."""
        if self.changed:
            try:
                write_atomic(self.folder / VERIFIED_NAME, self.known)
            except OSError:
                pass
            self.changed = False


def content_id(path: Path, recorded: str) -> str:
    """A file's content in the form a manifest records it: sha256, or for a weights file hard-linked to the
    checkpoint (tens of GB, whose identity the checkpoint fingerprint already covers) `fingerprint:` + its
    safetensors header fingerprint."""
    if recorded.startswith(FINGERPRINT):
        return FINGERPRINT + read_header(path).fingerprint
    return sha256_file(path)


def _read_known(path: Path) -> dict:
    try:
        known = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    if not isinstance(known, dict):
        return {}
    return {k: v for k, v in known.items() if isinstance(v, list) and len(v) == 5}


def _hint(fix: str) -> str:
    return fix if fix.startswith("run: ") or not fix else f"run: {fix}"


def load_onnx(onnx_path: Path, where: str, fix: str, allowed: set[str] | None = None) -> tuple:
    """(model without its external data, [(tensor proto, confined data file, offset, length)] of every
    initializer whose bytes live in another file), refused unless each names a file in its folder (one of
    `allowed` if given) and a range inside it. A file that does not parse as ONNX is refused naming it,
    not with protobuf's error."""
    import onnx  # noqa: PLC0415 (core stays importable without onnx)
    from google.protobuf.message import DecodeError

    onnx_path = Path(onnx_path)
    try:
        model = onnx.load(str(onnx_path), load_external_data=False)
    except (DecodeError, ValueError, OSError) as err:
        raise UserError(f"{onnx_path} is not a readable ONNX file ({type(err).__name__})", _hint(fix)) from err
    entries = []
    for tensor in _initializers(model.graph):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {entry.key: entry.value for entry in tensor.external_data}
        name = info.get("location")
        path = confined(onnx_path.parent, name, f"{onnx_path.name} (tensor {tensor.name!r})", fix)
        if allowed is not None and name not in allowed:
            raise UserError(f"{onnx_path.name}: tensor {tensor.name!r} reads {name!r}, a file {where} does not list",
                            _hint(fix))
        offset, length = info.get("offset", "0"), info.get("length")
        size = path.stat().st_size if path.is_file() else -1
        if not (offset.isdigit() and length is not None and length.isdigit() and int(offset) + int(length) <= size):
            raise UserError(f"{onnx_path.name}: tensor {tensor.name!r} reads bytes {offset}+{length} of {name!r} "
                            f"({size} bytes)", _hint(fix))
        entries.append((tensor, path, int(offset), int(length)))
    return model, entries


def _initializers(graph):
    """The graph's initializers and those of its subgraphs (If/Loop bodies)."""
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            for sub in (attr.g,) if attr.HasField("g") else tuple(attr.graphs):
                yield from _initializers(sub)
