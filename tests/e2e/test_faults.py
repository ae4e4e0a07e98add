"""Process faults for real (#14 item 6): kill -9 of export, build-engines and run, and two at once.

Each stage runs as a subprocess of the installed `ltx-trt` and is killed (SIGKILL, nothing to clean up)
at a point seen in the artifacts or output folder. Afterwards no manifest claims the stage finished (or
the previous one is byte for byte unchanged and still matches its files), no output exists, and the same
command rerun finishes with a complete result and no temporary file left. Export and build use the text
encoder and connector alone (`export --component`, seconds); runs use the session's full tiny export.
"""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from ltx_trt.core.profiles import load_profile
from ltx_trt.core.trust import content_id

PROFILE = "rtx4090"
FRAMES = load_profile(PROFILE).buckets[0].frames
LTX = Path(sys.executable).parent / "ltx-trt"
POLL_SECONDS = 0.05
# Leftovers: any hidden file but these (manifests, records and engines are written as .<name>.<pid>...tmp,
# the mp4 as .<name>.<pid>.partial.mp4), and staging folders (onnx.partial, weights.partial).
KNOWN_HIDDEN = {".verified.json"}  # core.trust's hash cache: a real file, not a leftover
SMALL = ("--component", "text_encoder", "--component", "connector")


def _start(log: Path, command: str, artifacts: Path, *flags: str) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        return subprocess.Popen([str(LTX), command, "--gpu", PROFILE, "--model", "tiny", "--artifacts",
                                 str(artifacts), *flags], stdout=out, stderr=subprocess.STDOUT)


def _finish(proc: subprocess.Popen, log: Path, timeout: float = 600) -> str:
    """Wait for `proc`; it must exit 0 with no traceback. Returns its output."""
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    output = log.read_text()
    assert proc.returncode == 0 and "Traceback" not in output, f"exit {proc.returncode}:\n{output}"
    return output


def _ltx(log: Path, command: str, artifacts: Path, *flags: str) -> str:
    return _finish(_start(log, command, artifacts, *flags), log)


def _kill_when(proc: subprocess.Popen, log: Path, seen, what: str, timeout: float = 300) -> None:
    """SIGKILL `proc` as soon as `seen()` holds (polled every 50 ms); fail if it ends or times out first."""
    deadline = time.monotonic() + timeout
    while not seen():
        if proc.poll() is not None:
            pytest.fail(f"exited {proc.returncode} before {what}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            pytest.fail(f"no {what} within {timeout} s:\n{log.read_text()}")
        time.sleep(POLL_SECONDS)
    proc.kill()
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"finished before the kill:\n{log.read_text()}"


def _leftovers(folder: Path) -> list[Path]:
    """Temporary files and staging folders under `folder`."""
    return [p for p in folder.rglob("*") if p.name.endswith(".partial") or ".partial." in p.name
            or p.name.endswith(".tmp") or (p.name.startswith(".") and p.name not in KNOWN_HIDDEN)]


def _link_copy(source: Path, target: Path) -> Path:
    """A copy whose files are hard links: every writer replaces files by rename, never in place."""
    shutil.copytree(source, target, copy_function=os.link)
    return target


def _onnx(artifacts: Path) -> Path:
    return artifacts / "tiny" / PROFILE / "onnx"


def _engines(artifacts: Path) -> Path:
    return artifacts / "tiny" / PROFILE / "engines"


def _check_export(artifacts: Path, components: set[str]) -> dict:
    """The export manifest lists graphs of exactly `components`, each file with its recorded content."""
    folder = _onnx(artifacts)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["stage"] == "export" and {g["component"] for g in manifest["graphs"].values()} == components
    for entry in manifest["graphs"].values():
        for item in [entry, *entry["data_files"]]:
            assert content_id(folder / item["file"], item["sha256"]) == item["sha256"], item["file"]
    return manifest


def _check_engines(artifacts: Path) -> dict:
    """The engine manifest has an engine for every exported graph, each file and record with its sha256."""
    folder = _engines(artifacts)
    manifest = json.loads((folder / "manifest.json").read_text())
    exported = json.loads((_onnx(artifacts) / "manifest.json").read_text())["graphs"]
    assert manifest["stage"] == "build-engines" and set(manifest["engines"]) == set(exported)
    for key, entry in manifest["engines"].items():
        digest = hashlib.sha256((folder / entry["file"]).read_bytes()).hexdigest()
        record = json.loads((folder / f"{key}.build.json").read_text())
        assert digest == entry["sha256"] == record["sha256"], key
    return manifest


def _video_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(container.streams.video[0]))


@pytest.fixture(scope="module")
def small_export(tmp_path_factory):
    """A finished export of the text encoder and connector only (seconds to redo), in its own folder."""
    artifacts = tmp_path_factory.mktemp("small")
    _ltx(artifacts.parent / "small-export.log", "export", artifacts, *SMALL)
    return artifacts


@pytest.fixture(scope="module")
def full_export(tiny_export, tmp_path_factory):
    """The session's full, calibrated tiny export, hard-linked into a folder this module may change."""
    return _link_copy(tiny_export(PROFILE), tmp_path_factory.mktemp("full") / "artifacts")


def test_export_killed_while_generating_the_tiny_model_leaves_nothing_finished(tmp_path):
    artifacts, log = tmp_path / "artifacts", tmp_path / "export.log"
    staging = artifacts / "tiny" / "weights.partial"
    _kill_when(_start(log, "export", artifacts, *SMALL), log, staging.exists, "tiny weights staging folder")
    assert not (artifacts / "tiny" / "weights").exists() and not list(artifacts.rglob("manifest.json"))
    _ltx(log, "export", artifacts, *SMALL)
    _check_export(artifacts, {"text_encoder", "connector"})
    assert _leftovers(artifacts) == []


def test_export_killed_after_its_first_onnx_keeps_the_previous_export(small_export, tmp_path):
    artifacts, log = _link_copy(small_export, tmp_path / "artifacts"), tmp_path / "export.log"
    before = (_onnx(artifacts) / "manifest.json").read_bytes()
    staging = _onnx(artifacts).with_name("onnx.partial")
    _kill_when(_start(log, "export", artifacts, *SMALL), log, lambda: any(staging.glob("*.onnx")), "first .onnx")
    assert (_onnx(artifacts) / "manifest.json").read_bytes() == before and not (staging / "manifest.json").exists()
    _check_export(artifacts, {"text_encoder", "connector"})
    _ltx(log, "export", artifacts, *SMALL)
    _check_export(artifacts, {"text_encoder", "connector"})
    assert _leftovers(artifacts) == []


def test_build_killed_after_its_first_engine_writes_no_manifest_and_the_rerun_completes(small_export, tmp_path):
    artifacts, log = _link_copy(small_export, tmp_path / "artifacts"), tmp_path / "build.log"
    engines = _engines(artifacts)
    _kill_when(_start(log, "build-engines", artifacts), log, lambda: any(engines.glob("*.engine")), "first engine")
    assert not (engines / "manifest.json").exists()
    _ltx(log, "build-engines", artifacts)
    _check_engines(artifacts)
    assert _leftovers(artifacts) == []


def test_forced_build_killed_after_replacing_an_engine_keeps_a_manifest_that_matches(small_export, tmp_path):
    artifacts, log = _link_copy(small_export, tmp_path / "artifacts"), tmp_path / "build.log"
    engines = _engines(artifacts)
    _ltx(log, "build-engines", artifacts)
    before = (engines / "manifest.json").read_bytes()
    inodes = {p.name: p.stat().st_ino for p in engines.glob("*.engine")}

    def replaced() -> bool:
        return any(p.stat().st_ino != inodes[p.name] for p in engines.glob("*.engine") if p.name in inodes)

    _kill_when(_start(log, "build-engines", artifacts, "--force"), log, replaced, "first rebuilt engine")
    assert (engines / "manifest.json").read_bytes() == before
    _check_engines(artifacts)  # the tiny engines build bit for bit the same, so the old manifest still holds
    _ltx(log, "build-engines", artifacts, "--force")
    _check_engines(artifacts)
    assert _leftovers(artifacts) == []


def test_build_removes_temp_files_of_killed_writers_not_of_running_ones(small_export, tmp_path):
    artifacts, log = _link_copy(small_export, tmp_path / "artifacts"), tmp_path / "build.log"
    engines = _engines(artifacts)
    engines.mkdir(parents=True)
    gone = subprocess.Popen(["true"])
    gone.wait()
    running = subprocess.Popen(["sleep", "300"])
    try:  # an engine and a manifest half-written by a killed build, and by one still running
        killed = [engines / f".connector.engine.{gone.pid}.tmp", engines / f".manifest.json.{gone.pid}-k1.tmp"]
        alive = [engines / f".connector.engine.{running.pid}.tmp", engines / f".manifest.json.{running.pid}-k1.tmp"]
        for path in killed + alive:
            path.write_bytes(b"partial")
        output = _ltx(log, "build-engines", artifacts)
    finally:
        running.kill()
        running.wait()
    assert [path.exists() for path in killed + alive] == [False, False, True, True]
    assert all(f"removed {path.name}" in output for path in killed)
    _check_engines(artifacts)


def test_two_forced_builds_at_once_leave_a_manifest_that_matches_the_engines(small_export, tmp_path):
    artifacts = _link_copy(small_export, tmp_path / "artifacts")
    logs = [tmp_path / "build-a.log", tmp_path / "build-b.log"]
    procs = [_start(log, "build-engines", artifacts, "--force") for log in logs]
    for proc, log in zip(procs, logs):
        _finish(proc, log)  # no lock: both build every engine, each replacing files atomically
    _check_engines(artifacts)
    assert _leftovers(artifacts) == []


def test_run_killed_while_writing_the_mp4_leaves_no_output_and_the_rerun_cleans_up(full_export, tmp_path):
    output, log = tmp_path / "out" / "fox.mp4", tmp_path / "run.log"
    output.parent.mkdir()
    flags = ("--prompt", "a red fox", "--executor", "onnxruntime", "--output", str(output))
    partial = re.compile(r"\.fox\.mp4\.\d+\.partial\.mp4")
    _kill_when(_start(log, "run", full_export, *flags), log,
               lambda: any(partial.fullmatch(p.name) for p in output.parent.iterdir()), "partial mp4")
    assert not output.exists()
    _ltx(log, "run", full_export, *flags)
    assert _video_frames(output) == FRAMES
    assert [p.name for p in output.parent.iterdir()] == ["fox.mp4"]  # the killed run's partial file removed
    assert _leftovers(full_export) == []


def test_two_runs_at_once_in_one_folder_both_write_their_clip(full_export, tmp_path):
    outputs = [tmp_path / "out" / "a.mp4", tmp_path / "out" / "b.mp4"]
    outputs[0].parent.mkdir()
    logs = [tmp_path / "run-a.log", tmp_path / "run-b.log"]
    procs = [_start(log, "run", full_export, "--prompt", "a red fox", "--executor", "onnxruntime", "--output",
                    str(output)) for log, output in zip(logs, outputs)]
    for proc, log in zip(procs, logs):
        _finish(proc, log)
    assert [_video_frames(output) for output in outputs] == [FRAMES, FRAMES]
    assert sorted(p.name for p in outputs[0].parent.iterdir()) == ["a.mp4", "b.mp4"]
    assert _leftovers(full_export) == []
