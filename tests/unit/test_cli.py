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


def _ltx_file(path, version):
    import json
    import struct

    config = json.dumps({"transformer": {"apply_gated_attention": True}, "vae": {}, "audio_vae": {}, "vocoder": {}})
    raw = json.dumps({"__metadata__": {"config": config, "model_version": version}}).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)
    return path


def test_non_23_checkpoint_is_refused_before_anything_is_written(tmp_path):
    artifacts = tmp_path / "artifacts"
    checkpoint = _ltx_file(tmp_path / "ltx-2.5.safetensors", "2.5.0")
    result = CliRunner().invoke(main, ["export", "--gpu", "rtx4090", "--checkpoint", str(checkpoint),
                                       "--gemma", str(tmp_path), "--artifacts", str(artifacts)])
    assert result.exit_code == 1
    assert "model_version '2.5.0'" in result.output and "not LTX-2.3" in result.output
    assert not (artifacts / "ltx-2.5").exists()


def test_corrupt_header_is_an_error_with_status_1(tmp_path):
    checkpoint = tmp_path / "broken.safetensors"
    checkpoint.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{{{{{{{{{{{{{{{{")
    result = CliRunner().invoke(main, ["export", "--gpu", "rtx4090", "--checkpoint", str(checkpoint),
                                       "--gemma", str(tmp_path), "--artifacts", str(tmp_path / "a")])
    assert result.exit_code == 1
    assert "corrupt safetensors header" in result.output and "hint:" in result.output


def test_unwritable_artifacts_folder_is_an_error_with_status_1(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = CliRunner().invoke(main, ["export", "--gpu", "rtx4090", "--model", "tiny",
                                       "--artifacts", str(blocker / "artifacts")])
    assert result.exit_code == 1
    assert "cannot write to the artifacts folder" in result.output
    assert blocker.is_file()


def test_precision_overrides_a_gpu_cannot_run_are_one_line_errors(tmp_path):
    for args, needles in ((["--gpu", "rtx3060", "--precision", "transformer=fp8"], ["needs compute capability 8.9",
                                                                                   "hint: use one of: fp32, bf16, int4"]),
                          (["--gpu", "rtx4090", "--precision", "transformer=nvfp4"], ["compute capability 12.0"]),
                          (["--gpu", "rtx4090", "--precision", "vae=bf16"], ["unknown component 'vae'"])):
        result = CliRunner().invoke(main, ["export", *args, "--model", "tiny", "--artifacts", str(tmp_path)])
        assert result.exit_code == 1, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: "), result.output
        for needle in needles:
            assert needle in result.output
    malformed = CliRunner().invoke(main, ["export", "--gpu", "rtx4090", "--precision", "transformer", "--model", "tiny"])
    assert malformed.exit_code == 2 and "COMPONENT=PRECISION" in malformed.output
