"""`ltx-trt build-engines` end to end through the console entry point."""

import json
import sys

import pytest
from click.testing import CliRunner

from ltx_trt.cli import main

pytest.importorskip("tensorrt_rtx", reason="tensorrt_rtx is not installed (pip install tensorrt-rtx)")


def test_build_engines_command_builds_then_reports_nothing_to_rebuild(linear_export):
    export = linear_export("rtx3060")  # a byte-identical copy of the shipped profile
    args = ["build-engines", "--gpu", "rtx3060", "--model", "tiny", "--artifacts", str(export.artifacts)]

    first = CliRunner().invoke(main, args)
    second = CliRunner().invoke(main, args)

    assert first.exit_code == 0, first.output
    assert "built 4, up to date 0" in first.output
    assert second.exit_code == 0 and "nothing to rebuild" in second.output
    manifest = json.loads((export.engines_dir / "manifest.json").read_text())
    assert manifest["compute_capabilities"] == ["8.6"] and len(manifest["engines"]) == 4


def test_build_engines_without_export_prints_error_and_export_hint(tmp_path):
    result = CliRunner().invoke(main, ["build-engines", "--gpu", "rtx5090", "--model", "tiny",
                                       "--artifacts", str(tmp_path)])
    assert result.exit_code == 1
    assert "error: no manifest at" in result.output
    assert f"hint: run: ltx-trt export --gpu rtx5090 --model tiny --artifacts {tmp_path}" in result.output


def test_build_engines_for_h100_without_full_tensorrt_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    result = CliRunner().invoke(main, ["build-engines", "--gpu", "h100", "--model", "tiny", "--artifacts", str(tmp_path)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and "tensorrt" in lines[0]
    assert lines[1] == "hint: pip install tensorrt-cu13 --extra-index-url https://pypi.nvidia.com"


def test_build_engines_help_is_documented():
    result = CliRunner().invoke(main, ["build-engines", "--help"])
    assert result.exit_code == 0 and "--force" in result.output and "rebuilt only when" in result.output
