"""The CI engine artifacts: the real tiny export built into TensorRT-RTX engines for every RTX profile
on this CPU-only machine, with their manifests checked; a second run rebuilds nothing."""

import json

import pytest
from click.testing import CliRunner

from ltx_trt.cli import main
from ltx_trt.core.manifest import sha256_file
from ltx_trt.core.plan import GUIDED_BATCHES
from ltx_trt.core.profiles import load_profile

pytest.importorskip("tensorrt_rtx", reason="needs the tensorrt-rtx package (pip install tensorrt-rtx)")


def _build(artifacts, profile, *flags):
    return CliRunner().invoke(main, ["build-engines", "--gpu", profile, "--model", "tiny",
                                     "--artifacts", str(artifacts), *flags])


def _transformer_variant(tiny_export, profile, *flags):
    """The artifacts folder after exporting the transformer alone with `flags` and building its engines."""
    artifacts = tiny_export(profile, *flags, "--component", "transformer")
    result = _build(artifacts, profile, *flags)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return artifacts


@pytest.mark.parametrize("profile", ["rtx3060", "rtx4090", "rtx5090"])
def test_tiny_engines_build_for_every_rtx_profile(tiny_export, profile):
    artifacts = tiny_export(profile)
    result = _build(artifacts, profile)
    assert result.exit_code == 0, result.output + repr(result.exception)
    onnx = json.loads((artifacts / "tiny" / profile / "onnx" / "manifest.json").read_text())
    folder = artifacts / "tiny" / profile / "engines"
    manifest = json.loads((folder / "manifest.json").read_text())
    expected = load_profile(profile)
    assert manifest["backend"]["name"] == "tensorrt_rtx"
    assert manifest["compute_capabilities"] == list(expected.compute_capabilities)
    assert manifest["onnx_manifest_sha256"] == sha256_file(artifacts / "tiny" / profile / "onnx" / "manifest.json")
    assert set(manifest["engines"]) == set(onnx["graphs"])
    for key, engine in manifest["engines"].items():
        assert engine["build_inputs"]["onnx"]["sha256"] == onnx["graphs"][key]["sha256"], key
        assert engine["precision"] == expected.precision[engine["component"]], key
        assert sha256_file(folder / engine["file"]) == engine["sha256"], key
        memory = engine["memory"]
        assert memory["source"] == "builder log" and min(memory["weights_bytes"], memory["activation_bytes"]) >= 0, key
    reports = {key: engine["memory"] for key, engine in manifest["engines"].items()}
    # engines with weights report them; the chained parts take theirs as inputs (constants only, if any)
    assert all(reports[k]["weights_bytes"] > 0 for k in reports
               if k.startswith(("upsampler", "video_encoder", "video_decoder")))
    blocks = [k for k in reports if k.rsplit(".", 1)[-1].startswith("block")]  # block, block_fp8, block_int4
    assert blocks and max(reports[k]["weights_bytes"] for k in blocks) < 16384
    assert all(reports[k]["activation_bytes"] > 0 for k in blocks)
    if expected.precision["transformer"] == "fp8":  # the builder's layer dump: every block Linear an FP8 GEMM
        fp8 = [reports[k]["matrix_products"] for k in blocks if k.endswith(".block_fp8")]
        assert fp8 and all(p == {"gemm FP8": 34} for p in fp8), fp8

    again = _build(artifacts, profile)
    assert again.exit_code == 0 and "nothing to rebuild" in again.output, again.output


def test_nvfp4_blocks_build_for_the_rtx5090_as_fp4_gemms(tiny_export):
    artifacts = _transformer_variant(tiny_export, "rtx5090", "--precision", "transformer=nvfp4")
    folder = artifacts / "tiny" / "rtx5090+transformer-nvfp4" / "engines"
    engines = json.loads((folder / "manifest.json").read_text())["engines"]
    fp4 = {k: e["memory"]["matrix_products"] for k, e in engines.items() if k.endswith(".block_nvfp4")}
    # 2 buckets x (2 distilled stages + the guided stage-1 graphs)
    assert len(fp4) == 2 * (2 + len(GUIDED_BATCHES)) and all(p == {"gemm FP4E2M1": 34} for p in fp4.values()), fp4


def test_keyframe_graphs_build_in_their_own_folder(tiny_export):
    artifacts = _transformer_variant(tiny_export, "rtx4090", "--keyframes", "1")
    profile = artifacts / "tiny" / "rtx4090+keyframes-1"
    onnx = json.loads((profile / "onnx" / "manifest.json").read_text())["graphs"]
    engines = json.loads((profile / "engines" / "manifest.json").read_text())["engines"]
    keyframed = [k for k in onnx if ".keyframes1." in k]
    assert keyframed and set(engines) == set(onnx), sorted(set(onnx) ^ set(engines))
    for key in keyframed:
        assert engines[key]["build_inputs"]["onnx"]["sha256"] == onnx[key]["sha256"], key
        assert (profile / "engines" / engines[key]["file"]).is_file(), key
