import subprocess
import sys

from click.testing import CliRunner

from ltx_trt.cli import main


def test_help_lists_the_stages_without_heavy_imports():
    # A fresh interpreter: --help must not import torch (it has to be instant).
    code = ("import sys; from ltx_trt.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'torch imported by --help'")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for command in ("export", "build-engines", "run"):
        assert command in out.stdout


def test_unknown_profile_is_one_line_error_with_hint_and_status_1(tmp_path):
    result = CliRunner().invoke(main, ["export", "--gpu", "rtx9999", "--model", "tiny", "--artifacts", str(tmp_path)])
    assert result.exit_code == 1
    assert "error: unknown GPU profile 'rtx9999'" in result.output
    assert "hint:" in result.output


def test_missing_checkpoint_is_an_error_with_status_1(tmp_path):
    result = CliRunner().invoke(main, ["export", "--gpu", "rtx4090", "--checkpoint", str(tmp_path / "x.safetensors"),
                                       "--gemma", str(tmp_path)])
    assert result.exit_code == 1
    assert "checkpoint not found" in result.output
