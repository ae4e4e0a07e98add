"""Engine packs as hostile input (core/pack.py) and the run-time checks of a pack (commands/pack.py): every
refusal happens before anything is installed, and says what differs and what to do."""

import io
import json
import tarfile

import pytest

from ltx_trt.commands import pack as packs
from ltx_trt.core import pack
from ltx_trt.core.errors import UserError
from ltx_trt.core.profiles import load_profile, profile_sha256
from ltx_trt.runtime import devices

PROFILE = load_profile("rtx4090")


def _files(tmp_path):
    (tmp_path / "src").mkdir()
    files = {}
    for name, data in (("onnx/manifest.json", b"{}"), ("engines/a.engine", b"engine bytes" * 100)):
        path = tmp_path / "src" / name.replace("/", "_")
        path.write_bytes(data)
        files[name] = path
    return files


def _meta(**changes):
    meta = {"architecture": {"name": "ltx-2.3-tiny", "fingerprint": "f" * 64}, "profile": PROFILE.folder,
            "profile_sha256": profile_sha256(PROFILE), "backend": {"name": PROFILE.backend, "version": "1.0"},
            "compute_capabilities": ["8.9"]}
    return {**meta, **changes}


@pytest.fixture
def archive(tmp_path):
    return pack.write(tmp_path / "p.tar.gz", _meta(), _files(tmp_path))


def _raw(tmp_path, members, meta_files=None):
    """A hand-made archive: pack.json listing `meta_files` (default: the members' true hashes), then members
    given as (TarInfo, bytes)."""
    import hashlib

    listed = meta_files if meta_files is not None else {
        info.name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)} for info, data in members}
    body = json.dumps({**_meta(), "format": pack.PACK_FORMAT, "files": listed}).encode()
    path = tmp_path / "raw.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.addfile(pack._info(pack.PACK_JSON, len(body)), io.BytesIO(body))
        for info, data in members:
            tar.addfile(info, io.BytesIO(data))
    return path


def test_a_pack_round_trips_with_its_checksums(archive, tmp_path):
    meta = pack.extract(archive, tmp_path / "out", "fix")
    assert (tmp_path / "out" / "engines" / "a.engine").read_bytes() == b"engine bytes" * 100
    assert meta["files"]["engines/a.engine"]["size"] == 1200 and meta["profile"] == PROFILE.folder
    assert (tmp_path / "p.tar.gz.sha256").read_text().split()[1] == "p.tar.gz"


def test_a_truncated_pack_is_refused_and_nothing_is_installed(archive, tmp_path):
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="truncated"):
        pack.extract(archive, tmp_path / "out", "fix")
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def test_a_corrupted_member_fails_its_checksum(tmp_path):
    info = pack._info("engines/a.engine", 4)
    path = _raw(tmp_path, [(info, b"abcd")], {"engines/a.engine": {"sha256": "0" * 64, "size": 4}})
    with pytest.raises(UserError, match="fails its checksum"):
        pack.extract(path, tmp_path / "out", "fix")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["../escape.engine", "/abs/a.engine", "engines/../../x", "other/a.engine",
                                  "engines/sub/a.engine"])
def test_member_names_outside_the_pack_folders_are_refused(tmp_path, name):
    with pytest.raises(UserError) as err:
        pack.extract(_raw(tmp_path, [(pack._info(name, 1), b"x")]), tmp_path / "out", "fix")
    assert name in err.value.message
    assert not (tmp_path / "escape.engine").exists() and not (tmp_path / "x").exists()


def test_links_and_unlisted_members_are_refused(tmp_path):
    link = tarfile.TarInfo("engines/a.engine")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    with pytest.raises(UserError, match="not a regular file"):
        pack.extract(_raw(tmp_path, [(link, b"")], {}), tmp_path / "out", "fix")
    with pytest.raises(UserError, match="not listed"):
        pack.extract(_raw(tmp_path, [(pack._info("engines/b.engine", 1), b"x")], {}), tmp_path / "out", "fix")


def test_a_pack_must_start_with_its_pack_json(tmp_path):
    path = tmp_path / "bad.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.addfile(pack._info("engines/a.engine", 1), io.BytesIO(b"x"))
    with pytest.raises(UserError, match="does not start with its pack.json"):
        pack.extract(path, tmp_path / "out", "fix")


@pytest.mark.parametrize("changes, needle", [
    ({"profile": "rtx3060"}, "is for profile 'rtx3060'"),
    ({"architecture": {"name": "ltx-2.3-22b", "fingerprint": "e" * 64}}, "is for architecture 'ltx-2.3-22b'"),
    ({"backend": {"name": PROFILE.backend, "version": "0.1"}}, "was built with"),
    ({"compute_capabilities": ["12.0"]}, "compute capability 12.0"),
])
def test_a_pack_for_another_profile_architecture_backend_or_gpu_is_refused(monkeypatch, changes, needle):
    monkeypatch.setattr(devices, "backend_version", lambda name: "1.0")
    monkeypatch.setattr(devices, "cuda_gpu", lambda: devices.Gpu("NVIDIA GeForce RTX 4090", "8.9", 24.0))
    packs.check_pack(_meta(), packs.Path("p.tar.gz"), PROFILE, "f" * 64, "tensorrt")  # the matching pack passes
    with pytest.raises(UserError) as err:
        packs.check_pack(_meta(**changes), packs.Path("p.tar.gz"), PROFILE, "f" * 64, "tensorrt")
    assert needle in err.value.message and err.value.hint and "\n" not in str(err.value)
