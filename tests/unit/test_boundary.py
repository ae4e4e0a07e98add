"""The CLI boundary: every numeric flag is range-checked and `--output` is only ever a regular file.

Each refusal is a two-line error (message, hint) with exit status 1 and no traceback, before any model
is loaded or anything is written; special files (a FIFO, a character device) are created in tmp_path.
The partial file of the mp4 writer is gone after every exit: success, error, Ctrl-C, SIGTERM, SIGHUP.
"""

import math
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap

import click
import pytest
from click.testing import CliRunner

from ltx_trt.cli import main
from ltx_trt.commands.request import SEEDS, check_numbers, numeric_ranges, select_bucket
from ltx_trt.core.errors import UserError
from ltx_trt.core.profiles import load_profile
from ltx_trt.runtime import output

PROFILE = load_profile("rtx4090")  # buckets 768x512x121 and 1280x704x241 on a 24 GiB card
NEVER_A_PID = 2**22 + 1  # above Linux's PID_MAX_LIMIT: no process has it


def _invoke(command, tmp_path, *args):
    return CliRunner().invoke(main, [command, "--gpu", "rtx4090", "--model", "tiny",
                                     "--artifacts", str(tmp_path / "artifacts"), *args])


def _one_line_error(result, *needles):
    assert result.exit_code == 1, result.output + repr(result.exception)
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit), result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: "), result.output
    for needle in needles:
        assert needle in result.output, result.output
    return lines[1]


def _suggested(hint: str) -> list[float]:
    """The numbers a hint suggests (before its parenthesised note)."""
    return [int(n) if n.isdigit() else float(n) for n in re.findall(r"\d+(?:\.\d+)?", hint.split("(")[0])]


def test_every_numeric_option_of_every_command_has_a_range():
    numeric = {(name, p.opts[0]) for name, command in main.commands.items() for p in command.params
               if isinstance(p.type, (click.types.IntParamType, click.types.FloatParamType))}
    assert {flag for _, flag in numeric} == set(numeric_ranges(PROFILE))
    assert ("run", "--resident-gib") in numeric and ("calibrate", "--seed") in numeric


BAD = [("--width", v) for v in ("0", "-768", "64", "99999")] + \
      [("--height", v) for v in ("0", "-512", "4096")] + \
      [("--frames", v) for v in ("0", "-7", "1", "100001")] + \
      [("--seed", v) for v in ("-1", str(2**64), str(10**30))]


@pytest.mark.parametrize("command", ["run", "calibrate"])
@pytest.mark.parametrize("flag, value", BAD)
def test_out_of_range_numbers_are_refused_before_anything_is_loaded(tmp_path, command, flag, value):
    hint = _one_line_error(_invoke(command, tmp_path, "--prompt", "x", flag, value),
                           f"error: {flag} {value} is out of range")
    assert _suggested(hint) and all(check_numbers(PROFILE, {flag: n}) is None for n in _suggested(hint))
    assert not (tmp_path / "artifacts").exists()  # calibrate would generate the tiny model first


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400", "0", "-1", "0.5", "24.5"])
def test_resident_gib_refuses_nan_infinite_and_beyond_the_gpu(tmp_path, value):
    hint = _one_line_error(_invoke("run", tmp_path, "--prompt", "x", "--resident-gib", value),
                           "error: --resident-gib", "is out of range (1.0 to 24.0)")
    assert hint == "hint: use 1 to 24 (GiB; the GeForce RTX 4090 has 24)"


def test_the_extremes_of_every_range_reach_the_run(monkeypatch, tmp_path):
    from ltx_trt.commands import run as runner

    seen = []
    monkeypatch.setattr(runner, "run", lambda request, log: seen.append(request))
    for args in (["--seed", "0"], ["--seed", str(2**64 - 1)], ["--resident-gib", "1"], ["--resident-gib", "24"],
                 ["--width", "1280", "--height", "704", "--frames", "241"]):
        result = _invoke("run", tmp_path, "--prompt", "x", *args)
        assert result.exit_code == 0, result.output + repr(result.exception)
    assert [r.seed for r in seen[:2]] == [0, 2**64 - 1] and seen[3].profile.memory.resident_gib == 24.0
    assert seen[4].bucket == PROFILE.buckets[1]


def test_the_seed_range_is_what_torch_generators_take_once_each():
    import torch

    assert torch.Generator().manual_seed(SEEDS[1]).initial_seed() == SEEDS[1]
    assert torch.Generator().manual_seed(-1).initial_seed() == SEEDS[1]  # negatives name seeds already in range
    with pytest.raises((RuntimeError, ValueError)):
        torch.Generator().manual_seed(SEEDS[1] + 1)


@pytest.mark.parametrize("sizes, needle", [((None, None, 130), "--frames 130 is not 8k+1"),
                                           ((800, None, None), "--width 800 is not a multiple of 64"),
                                           ((None, 600, None), "--height 600 is not a multiple of 64")])
def test_size_hints_name_only_the_profiles_values(sizes, needle):
    with pytest.raises(UserError, match=re.escape(needle)) as err:
        select_bucket(PROFILE, *sizes)
    values = {getattr(b, name) for b in PROFILE.buckets for name in ("width", "height", "frames")}
    assert _suggested(err.value.hint) and set(_suggested(err.value.hint)) <= values


def _make(kind, path):
    """A special file in tmp_path (never a system path); the char device has /dev/full's numbers."""
    if kind == "a FIFO":
        os.mkfifo(path)
    elif kind == "a folder":
        path.mkdir()
    else:
        try:
            os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 7))
        except PermissionError:
            pytest.skip("mknod is not permitted here (no CAP_MKNOD)")


def _nodes(folder):
    return {p.name: (os.lstat(p).st_mode, os.lstat(p).st_rdev, os.lstat(p).st_ino) for p in folder.iterdir()}


@pytest.mark.parametrize("linked", [False, True], ids=["itself", "through a symlink"])
@pytest.mark.parametrize("kind", ["a FIFO", "a character device", "a folder"])
def test_output_that_is_not_a_regular_file_is_refused_and_left_alone(tmp_path, kind, linked):
    files = tmp_path / "files"
    files.mkdir()
    _make(kind, files / "special")
    if linked:
        (files / "link.mp4").symlink_to(files / "special")
    before = _nodes(files)
    result = _invoke("run", tmp_path, "--prompt", "x", "--output", str(files / ("link.mp4" if linked else "special")))
    _one_line_error(result, f"is {kind}, not a regular file", "hint: pass --output")
    assert _nodes(files) == before  # the same nodes (a device is still that device), no partial file beside them
    assert not (tmp_path / "artifacts").exists()


def test_writer_refuses_a_special_file_that_took_the_outputs_place_meanwhile(tmp_path):
    target = tmp_path / "out.mp4"
    target.write_bytes(b"old clip")
    with pytest.raises(UserError, match="is a FIFO, not a regular file"):
        with output.partial_file(target) as tmp:
            tmp.write_bytes(b"new clip")
            target.unlink()
            os.mkfifo(target)
    assert stat.S_ISFIFO(os.lstat(target).st_mode) and os.listdir(tmp_path) == ["out.mp4"]


def test_writer_replaces_a_regular_file_through_a_symlink_and_leaves_nothing_else(tmp_path):
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "out.mp4").write_bytes(b"old clip")
    (tmp_path / "latest.mp4").symlink_to(tmp_path / "clips" / "out.mp4")
    with output.partial_file(tmp_path / "latest.mp4") as tmp:
        assert tmp.name == f".out.mp4.{os.getpid()}.partial.mp4" and tmp.parent == tmp_path / "clips"
        tmp.write_bytes(b"new clip")
    assert (tmp_path / "latest.mp4").is_symlink() and (tmp_path / "clips" / "out.mp4").read_bytes() == b"new clip"
    assert os.listdir(tmp_path / "clips") == ["out.mp4"]


def test_writer_removes_its_partial_file_on_error_and_ctrl_c(tmp_path):
    for fault in (ValueError("encoder failed"), KeyboardInterrupt()):
        with pytest.raises(type(fault)):
            with output.partial_file(tmp_path / "out.mp4") as tmp:
                tmp.write_bytes(b"half a clip")
                raise fault
        assert os.listdir(tmp_path) == []


def test_stale_partial_files_of_dead_runs_are_removed_and_live_ones_kept(tmp_path):
    target = tmp_path / "out.mp4"
    dead, own, live = (output.partial_name(target, pid) for pid in (NEVER_A_PID, os.getpid(), os.getppid()))
    other = output.partial_name(tmp_path / "other.mp4", NEVER_A_PID)
    for path in (dead, own, live, other, tmp_path / "out.mp4.partial-notes"):
        path.write_bytes(b"x")
    with output.partial_file(target) as tmp:
        tmp.write_bytes(b"clip")
    assert sorted(os.listdir(tmp_path)) == sorted([live.name, other.name, "out.mp4", "out.mp4.partial-notes"])


WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from ltx_trt.runtime.output import partial_file
    with partial_file(Path(sys.argv[1])) as tmp:
        tmp.write_bytes(b"half a clip")
        print(tmp.name, flush=True)
        time.sleep(60)
""")


@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 128 + signal.SIGTERM),
                                            (signal.SIGHUP, 128 + signal.SIGHUP),
                                            (signal.SIGINT, -signal.SIGINT)])  # KeyboardInterrupt
def test_a_killed_writer_leaves_no_partial_file(tmp_path, signum, status):
    folder = tmp_path / "clips"
    folder.mkdir()
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(folder / "out.mp4")], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        name = writer.stdout.readline().strip()
        assert name.endswith(".partial.mp4") and os.listdir(folder) == [name]
        writer.send_signal(signum)
        assert writer.wait(timeout=30) == status
    finally:
        if writer.poll() is None:
            writer.kill()
    assert os.listdir(folder) == []


def test_nan_is_out_of_every_range():
    for flag in numeric_ranges(PROFILE):
        with pytest.raises(UserError, match="out of range"):
            check_numbers(PROFILE, {flag: math.nan})
