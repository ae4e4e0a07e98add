"""Engine packs end to end on the tiny architecture: `export --architecture` (no checkpoint, no Gemma weights)
-> `build-engines --architecture` -> `pack`, then `run --model tiny --engines PACK` on the CPU (ONNX Runtime on
the pack's ONNX, the weights bound from the user's files) ends in an mp4; a damaged pack is refused before
anything is installed. rtx3060: one bucket, INT4 weight-only, so no calibration is needed."""

import json
import shutil
import tarfile

import pytest
from click.testing import CliRunner

from ltx_trt.cli import main

PROFILE = "rtx3060"
ARCH = "ltx-2.3-tiny"


def _ok(*args):
    result = CliRunner().invoke(main, list(map(str, args)))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


@pytest.fixture(scope="module")
def tiny_pack(tmp_path_factory):
    artifacts = tmp_path_factory.mktemp("ci")
    for command in ("export", "build-engines"):
        _ok(command, "--gpu", PROFILE, "--architecture", ARCH, "--artifacts", artifacts)
    _ok("pack", "--gpu", PROFILE, "--architecture", ARCH, "--artifacts", artifacts, "--output", artifacts / "packs")
    return artifacts / "packs" / f"ltx-trt-{ARCH}-{PROFILE}.tar.gz"


def test_a_pack_holds_no_weight_and_describes_its_engines(tiny_pack):
    with tarfile.open(tiny_pack) as tar:
        meta = json.load(tar.extractfile("pack.json"))
        names = tar.getnames()
    assert names[0] == "pack.json" and set(names[1:]) == set(meta["files"])
    assert not [n for n in names if n.endswith((".npz", ".safetensors")) or "/weights." in n]
    assert meta["architecture"]["name"] == ARCH and meta["backend"]["name"] == "tensorrt_rtx"
    assert meta["compute_capabilities"] == ["8.6"] and meta["precision"]["transformer"] == "int4"
    assert all(report for report in meta["memory"].values())


def test_run_with_the_pack_ends_in_an_mp4(tiny_pack, tmp_path):
    out = tmp_path / "clip.mp4"
    result = _ok("run", "--gpu", PROFILE, "--model", "tiny", "--artifacts", tmp_path / "user", "--engines", tiny_pack,
                 "--prompt", "a red fox", "--output", out)
    assert "engine pack" in result.output and out.stat().st_size > 10_000


def test_run_refuses_a_truncated_pack_before_anything_is_installed(tiny_pack, tmp_path):
    broken = tmp_path / tiny_pack.name
    shutil.copy(tiny_pack, broken)
    broken.write_bytes(broken.read_bytes()[:-4096])
    result = CliRunner().invoke(main, ["run", "--gpu", PROFILE, "--model", "tiny", "--artifacts", str(tmp_path / "u"),
                                       "--engines", str(broken), "--prompt", "a fox"])
    assert result.exit_code == 1 and "truncated" in result.output, result.output
    assert not (tmp_path / "u" / "packs" / broken.name.removesuffix(".tar.gz")).exists()


def test_verify_checks_a_pack_against_references_recorded_from_one_clip(tiny_pack, tmp_path):
    """No GPU here: the pack's ONNX on ONNX Runtime against the torch executor's recorded calls, each within its
    precision's tolerance; the graphs the recorded clip does not run are listed as not checked."""
    result = _ok("verify", "--gpu", PROFILE, "--model", "tiny", "--artifacts", tmp_path / "user", "--engines", tiny_pack)
    out = result.output
    assert "recorded from one clip" in out and "checking the exported ONNX on ONNX Runtime" in out, out
    rows = [line for line in out.splitlines() if line.strip()[:1].isdigit() and "/" in line.split()[0]]
    passed = [r for r in rows if r.rstrip().endswith("pass")]
    for component in ("text_encoder", "connector", "transformer", "video_encoder", "video_decoder", "audio_decoder"):
        assert any(r.split()[1].split(".")[0] == component for r in passed), (component, out)
    skipped = [r for r in rows if "the recorded clip does not run it" in r]
    assert skipped and all(".guided" in r for r in skipped), out  # the dev pipelines' graphs
    assert "match their references" in out and "FAIL" not in out
