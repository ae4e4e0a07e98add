"""`ltx-trt verify`: the tiny model's export checked against its PyTorch references through Polygraphy.

Without a GPU (here) verify runs the exported ONNX on ONNX Runtime's CPU provider; the engine path is a
gpu test, skipped with the reason. Tampered references are made in a copy of the export (hard links for
the untouched files), never in the session's own folder.
"""

import importlib.util
import json
import os
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from ltx_trt.cli import main
from ltx_trt.commands.verify import RECORD_NAME, suggestion
from ltx_trt.core.manifest import sha256_file
from ltx_trt.core.profiles import available_profiles, load_profile
from ltx_trt.core.source import tiny_source
from ltx_trt.core.tolerances import RELATIVE_L2, graph_key
from ltx_trt.runtime import devices

PROFILE = "rtx4090"
# every component but the video decoder, whose two graphs take 25 s and 70 s of ONNX Runtime on 2 cores
QUICK = ("--component", "text_encoder", "--component", "connector", "--component", "transformer",
         "--component", "upsampler", "--component", "video_encoder", "--component", "audio_decoder")


def _verify(artifacts, *flags):
    return CliRunner().invoke(main, ["verify", "--gpu", PROFILE, "--model", "tiny", "--artifacts", str(artifacts),
                                     *flags])


def _tampered_copy(artifacts, tmp_path, key, record_hash: bool):
    """A copy of the export (files hard-linked) whose graph `key` has a reference output 1.5x the stored one;
    record_hash: also write its new sha256 into the copy's manifest (so only the comparison can catch it)."""
    target = tmp_path / "art"
    (target / "tiny").mkdir(parents=True)
    (target / "tiny" / "weights").symlink_to(artifacts / "tiny" / "weights")
    onnx = target / "tiny" / PROFILE / "onnx"
    shutil.copytree(artifacts / "tiny" / PROFILE / "onnx", onnx, copy_function=os.link,
                    ignore=shutil.ignore_patterns(".*", "manifest.json", f"{key}.reference.npz"))
    with np.load(artifacts / "tiny" / PROFILE / "onnx" / f"{key}.reference.npz") as data:
        arrays = dict(data)
    first = next(name for name in arrays if name.startswith("output."))
    arrays[first] = arrays[first] * 1.5
    np.savez(onnx / f"{key}.reference.npz", **arrays)
    manifest = json.loads((artifacts / "tiny" / PROFILE / "onnx" / "manifest.json").read_text())
    if record_hash:
        manifest["graphs"][key]["reference_sha256"] = sha256_file(onnx / f"{key}.reference.npz")
    (onnx / "manifest.json").write_text(json.dumps(manifest))
    return target, first.removeprefix("output.")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU path, which a CUDA GPU replaces by the engines")
def test_verify_without_a_gpu_checks_the_onnx_on_onnxruntime_and_prints_a_table(tiny_export):
    artifacts = tiny_export(PROFILE)
    result = _verify(artifacts, *QUICK)
    assert result.exit_code == 0, result.output + repr(result.exception)
    lines = result.output.splitlines()
    assert lines[0] == "no CUDA GPU: checking the exported ONNX on ONNX Runtime (CPU) instead of the engines"
    assert lines[2].split() == ["graph", "precision", "max", "abs", "mean", "abs", "rel", "L2", "tolerance", "result"]
    manifest = json.loads((artifacts / "tiny" / PROFILE / "onnx" / "manifest.json").read_text())
    keys = [k for k, e in manifest["graphs"].items() if e["component"] != "video_decoder"]
    rows = {line.split()[1]: line for line in lines[3:3 + len(keys)]}
    assert set(rows) == set(keys)
    for key in keys:
        entry = manifest["graphs"][key]
        tolerance = graph_key(entry["precision"], entry["variant"])
        assert rows[key].endswith("pass") and f"{RELATIVE_L2[tolerance]:.0e} ({tolerance})" in rows[key], rows[key]
    assert lines[-1] == f"all {len(keys)} checked graphs match their references"


def test_a_tampered_reference_file_is_refused_by_its_hash(tiny_export, tmp_path):
    copy, _ = _tampered_copy(tiny_export(PROFILE), tmp_path, "connector", record_hash=False)
    result = _verify(copy, "--component", "connector")
    assert result.exit_code == 1
    assert "connector.reference.npz differs from the ONNX manifest" in result.output
    assert "hint: run: ltx-trt export --gpu rtx4090 --model tiny" in result.output


def test_a_reference_output_the_graph_does_not_reproduce_fails_naming_the_graph(tiny_export, tmp_path):
    copy, output = _tampered_copy(tiny_export(PROFILE), tmp_path, "connector", record_hash=True)
    result = _verify(copy, "--component", "connector")
    assert result.exit_code == 1, result.output
    row = next(line for line in result.output.splitlines() if " connector " in line)
    assert row.endswith(f"FAIL ({output})"), row
    assert "error: 1 of 1 graphs differ from their PyTorch reference beyond tolerance: connector" in result.output
    assert "hint: run: ltx-trt export" in result.output


def test_run_suggests_verify_until_the_engine_manifest_has_passed(tmp_path):
    profile = load_profile(PROFILE)
    engines = tmp_path / "tiny" / PROFILE / "engines"
    engines.mkdir(parents=True)
    (engines / "manifest.json").write_text('{"engines": {}}')
    line = suggestion(profile, tiny_source(tmp_path), tmp_path)
    assert line is not None and line.endswith(f"ltx-trt verify --gpu {PROFILE} --model tiny --artifacts {tmp_path}")
    (engines / RECORD_NAME).write_text(json.dumps({"engine_manifests": [sha256_file(engines / "manifest.json")]}))
    assert suggestion(profile, tiny_source(tmp_path), tmp_path) is None
    (engines / "manifest.json").write_text('{"engines": {"rebuilt": {}}}')  # new engines: suggested again
    assert suggestion(profile, tiny_source(tmp_path), tmp_path) is not None


def _gpu_profile() -> str | None:
    gpu = devices.cuda_gpu()
    fitting = devices.fitting_profiles(gpu, [load_profile(name) for name in available_profiles()])
    return fitting[0].name if fitting else None


GPU_MISSING = ("needs an NVIDIA GPU with CUDA (torch.cuda.is_available() is False on this machine)"
               if not torch.cuda.is_available() else
               "needs a GPU one of profiles/*.toml targets" if _gpu_profile() is None else
               "" if importlib.util.find_spec(load_profile(_gpu_profile()).backend) else
               f"needs {load_profile(_gpu_profile()).backend} (pip install tensorrt-rtx, or tensorrt for h100)")


@pytest.mark.gpu
@pytest.mark.skipif(bool(GPU_MISSING), reason=GPU_MISSING or "-")
def test_engines_match_their_references_on_the_gpu_and_are_recorded(tiny_export):
    profile = _gpu_profile()
    artifacts = tiny_export(profile)
    built = CliRunner().invoke(main, ["build-engines", "--gpu", profile, "--model", "tiny", "--artifacts", str(artifacts)])
    assert built.exit_code == 0, built.output
    result = CliRunner().invoke(main, ["verify", "--gpu", profile, "--model", "tiny", "--artifacts", str(artifacts)])
    assert result.exit_code == 0, result.output
    assert load_profile(profile).backend in result.output.splitlines()[0]
    assert suggestion(load_profile(profile), tiny_source(artifacts), artifacts) is None
