"""core.trust: names confined to their folder, files trusted by content, hashed once per change."""

import os

import pytest

from ltx_trt.core.errors import UserError
from ltx_trt.core.manifest import sha256_file
from ltx_trt.core.trust import VERIFIED_NAME, Verifier, check_key, confined


@pytest.mark.parametrize("name", ["../x", "/etc/hostname", "a/../../x", "", None, 3, "a\\..\\x", "a\0b"])
def test_names_that_are_not_paths_inside_the_folder_are_refused(tmp_path, name):
    with pytest.raises(UserError, match="not a path inside"):
        confined(tmp_path, name, "manifest.json", "ltx-trt export")


def test_a_symlink_out_of_the_folder_is_refused_and_one_inside_is_fine(tmp_path):
    (tmp_path / "inside").mkdir()
    (tmp_path / "target").write_text("x")
    (tmp_path / "inside" / "out").symlink_to(tmp_path / "target")
    (tmp_path / "inside" / "real").write_text("y")
    (tmp_path / "inside" / "in").symlink_to(tmp_path / "inside" / "real")
    with pytest.raises(UserError, match="leads outside"):
        confined(tmp_path / "inside", "out", "manifest.json", "ltx-trt export")
    assert confined(tmp_path / "inside", "in", "manifest.json", "ltx-trt export") == tmp_path / "inside" / "in"


@pytest.mark.parametrize("key", ["../x", "a/b", "transformer..stage1", ".hidden", "x y"])
def test_graph_keys_with_path_parts_are_refused(key):
    with pytest.raises(UserError, match="not a graph name"):
        check_key(key, "manifest.json", "ltx-trt export")
    assert check_key("transformer.768x512-5s.stage1.block_fp8", "m", "f")


def test_a_file_is_hashed_once_per_change_and_a_same_size_same_mtime_change_is_caught(tmp_path, monkeypatch):
    path = tmp_path / "graph.onnx"
    path.write_bytes(b"0123456789")
    good = sha256_file(path)
    first = Verifier(tmp_path)
    first.verify("graph.onnx", good, "the manifest", "ltx-trt export")
    first.save()
    assert (tmp_path / VERIFIED_NAME).is_file()
    hashed = []
    monkeypatch.setattr("ltx_trt.core.trust.sha256_file", lambda p: hashed.append(p) or good)
    Verifier(tmp_path).verify("graph.onnx", good, "the manifest", "ltx-trt export")
    assert hashed == []  # unchanged identity: not hashed again
    monkeypatch.undo()
    stat = path.stat()
    with path.open("r+b") as f:
        f.seek(5)
        f.write(b"X")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(UserError, match="differs from the manifest"):
        Verifier(tmp_path).verify("graph.onnx", good, "the manifest", "ltx-trt export")
