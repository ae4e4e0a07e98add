"""What build-engines refuses, and that each refusal names the command that fixes it."""

import json
import struct
import sys
import types

import pytest

from conftest import edit_profile
from ltx_trt.build_engines.build import build_all
from ltx_trt.core.errors import UserError
from ltx_trt.core.profiles import load_profile
from ltx_trt.core.source import export_command

pytest.importorskip("tensorrt_rtx", reason="tensorrt_rtx is not installed (pip install tensorrt-rtx)")



def _fix(export) -> str:
    return f"run: ltx-trt export --gpu rtx4090 --model tiny --artifacts {export.artifacts}"


def _refusal(export, **kwargs) -> UserError:
    with pytest.raises(UserError) as err:
        build_all(export.model_id, export.profile, export.artifacts, **kwargs)
    return err.value


def _rewrite_manifest(export, change) -> None:
    path = export.onnx_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def test_h100_without_full_tensorrt_is_one_line_with_the_pip_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # as on a machine without full TensorRT
    with pytest.raises(UserError) as err:
        build_all("tiny", load_profile("h100"), tmp_path)
    assert "\n" not in err.value.message and "tensorrt" in err.value.message
    assert err.value.hint == "pip install tensorrt-cu13 --extra-index-url https://pypi.nvidia.com"


def test_full_tensorrt_refuses_to_build_without_the_target_gpu(tmp_path, monkeypatch):
    import ctypes.util

    if ctypes.util.find_library("cuda"):
        pytest.skip("this machine has a CUDA driver; the refusal is for machines without one")
    monkeypatch.setitem(sys.modules, "tensorrt", types.SimpleNamespace(__version__="10.13"))
    with pytest.raises(UserError, match="no CUDA driver"):
        build_all("tiny", load_profile("h100"), tmp_path)


def test_rtx_profile_for_compute_capability_9_0_is_refused(linear_export):
    export = linear_export("rtx4090", ('["8.9"]', '["9.0"]'))
    err = _refusal(export)
    assert "compute capability 9.0" in err.message and 'backend = "tensorrt"' in err.hint


def test_missing_or_corrupt_onnx_manifest_names_the_export_command(linear_export):
    export = linear_export("rtx4090")
    path = export.onnx_dir / "manifest.json"
    path.write_text('{"format": 1, "stage": "exp')
    err = _refusal(export)
    assert "corrupt" in err.message and err.hint == _fix(export)
    path.unlink()
    assert _refusal(export).hint == _fix(export)


@pytest.mark.parametrize("change,needle", [
    (lambda m: m.update(format=2), "not an export manifest"),
    (lambda m: m.update(model_id="ltx-2.3-22b-dev"), "model_id 'ltx-2.3-22b-dev'"),
    (lambda m: m.update(graphs={}), "lists no graphs"),
    (lambda m: next(iter(m["graphs"].values())).pop("sha256"), "incomplete"),
    (lambda m: next(iter(m["graphs"].values())).update(component="vae"), "unknown component 'vae'"),
    (lambda m: next(iter(m["graphs"].values())).update(file="../x.onnx"), "not a plain name"),
    (lambda m: next(iter(m["graphs"].values())).update(precision="fp32"), "exported in fp32"),
])
def test_malformed_onnx_manifest_is_refused_with_the_export_command(linear_export, change, needle):
    export = linear_export("rtx4090")
    _rewrite_manifest(export, change)
    err = _refusal(export)
    assert needle in err.message and err.hint == _fix(export)


def test_profile_changed_since_export_is_refused_as_stale(linear_export):
    export = linear_export("rtx4090")
    profile = edit_profile(export, ('compute_capabilities = ["8.9"]', 'compute_capabilities = ["8.9", "12.0"]'))
    with pytest.raises(UserError) as err:
        build_all("tiny", profile, export.artifacts)
    assert "another version of profiles/rtx4090.toml" in err.value.message
    assert err.value.hint == _fix(export)


def test_run_time_profile_edits_leave_the_export_current(linear_export):
    """resident_gib, vram_gib and the display name steer `run` only: no re-export, no rebuild."""
    export = linear_export("rtx4090")
    profile = edit_profile(export, ("resident_gib = 20", "resident_gib = 18"), ("vram_gib = 24", "vram_gib = 22"),
                           ('gpu = "GeForce RTX 4090"', 'gpu = "GeForce RTX 4090 (laptop)"'))
    build_all("tiny", profile, export.artifacts)  # not refused


def test_onnx_files_changed_or_missing_after_export_are_refused(linear_export, capsys):
    export = linear_export("rtx4090")
    onnx_file = export.onnx_dir / f"{export.keys()[0]}.onnx"
    onnx_file.write_bytes(onnx_file.read_bytes() + b"\0")
    assert "differs from the ONNX manifest" in _refusal(export).message

    export.write()
    build_all("tiny", export.profile, export.artifacts)  # verified once...
    weights = export.onnx_dir / f"{export.keys()[2]}.weights"
    weights.unlink()
    err = _refusal(export)  # ...and still checked on every run
    assert "missing" in err.message and err.hint == _fix(export)


def test_onnx_exported_from_another_checkpoint_is_refused(tmp_path, linear_export):
    checkpoint = tmp_path / "ltx-2.3-22b-dev.safetensors"
    header = json.dumps({"__metadata__": {"model_version": "2.3.0"}}).encode()
    checkpoint.write_bytes(struct.pack("<Q", len(header)) + header)
    export = linear_export("rtx4090")
    export = type(export)(export.artifacts, export.profile, export.profiles_dir, checkpoint.stem).write()

    err = _refusal(export, checkpoint=checkpoint)

    assert "another checkpoint" in err.message
    assert err.hint == f"run: ltx-trt export --gpu rtx4090 --checkpoint {checkpoint} --gemma DIR --artifacts {export.artifacts}"


def test_export_command_names_the_artifacts_folder_only_when_not_the_default():
    assert export_command("rtx3060", "tiny", None, "artifacts") == "ltx-trt export --gpu rtx3060 --model tiny"
    assert export_command("h100", "x", None, "/data/a") == "ltx-trt export --gpu h100 --checkpoint FILE --gemma DIR --artifacts /data/a"


def test_weights_linked_from_the_checkpoint_are_checked_by_header_fingerprint(linear_export, capsys):
    export = linear_export("rtx4090")
    build_all("tiny", export.profile, export.artifacts)
    linked = export.onnx_dir / "weights.video_decoder.safetensors"
    linked.write_bytes(linked.read_bytes() + b"\0" * 64)  # another file in its place: the size is in the fingerprint

    err = _refusal(export)

    assert f"{linked} differs from the ONNX manifest" in err.message
