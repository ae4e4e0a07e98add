"""`ltx-trt export --model tiny` end to end: every component of the profile, manifest last."""

import json

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

from ltx_trt.cli import main
from ltx_trt.core.components import COMPONENTS
from ltx_trt.core.manifest import sha256_file
from ltx_trt.core.plan import GUIDED_BATCHES
from ltx_trt.core.profiles import load_profile
from ltx_trt.export.checks import FORBIDDEN_OPS, op_counts
from tests.reference import read_reference

# the text encoder's pre, block, post and the connector, then per bucket: the transformer's pre, block, post for
# each stage and each guided batch, the upsampler, the video encoder at both stage sizes and the two decoders
GRAPHS_PER_BUCKET = 3 * (2 + len(GUIDED_BATCHES)) + 5


def test_tiny_export_writes_every_component_and_a_manifest(tiny_export):
    folder = tiny_export("rtx4090") / "tiny" / "rtx4090" / "onnx"
    manifest = json.loads((folder / "manifest.json").read_text())
    profile = load_profile("rtx4090")
    assert manifest["model_id"] == "tiny" and manifest["profile"] == "rtx4090" and not manifest["partial"]
    assert {g["component"] for g in manifest["graphs"].values()} == set(COMPONENTS)
    assert len(manifest["graphs"]) == 4 + GRAPHS_PER_BUCKET * len(profile.buckets)
    assert manifest["checkpoint"]["model_version"].startswith("2.3") and len(manifest["checkpoint"]["sha256"]) == 64
    for key, entry in manifest["graphs"].items():
        path = folder / entry["file"]
        assert sha256_file(path) == entry["sha256"], key
        proto = onnx.load(path, load_external_data=False)
        assert not set(op_counts(proto)) & set(FORBIDDEN_OPS), key
        assert [i.name for i in proto.graph.input] == [s["name"] for s in entry["inputs"]]
        for data in entry["data_files"]:
            assert (folder / data["file"]).is_file()
        inputs, outputs = read_reference(folder / entry["reference"])
        assert set(inputs) == {s["name"] for s in entry["inputs"]}
        assert all(np.isfinite(values).all() for values, _ in outputs.values()), key
    assert not (folder.parent / "onnx.partial").exists()


def test_the_onnx_names_no_folder_of_the_machine_that_exported_it(tiny_export):
    """torch's exporter stores each node's Python stack trace; its paths are made relative (export/onnx_export.py)."""
    import sys
    from pathlib import Path

    from ltx_trt.export.onnx_export import SOURCE_ROOT, STACK_TRACE

    folder = tiny_export("rtx4090") / "tiny" / "rtx4090" / "onnx"
    machine = {str(SOURCE_ROOT).encode(), sys.prefix.encode(), b"site-packages", str(Path.home()).encode() + b"/"}
    traced = 0
    for path in sorted(folder.glob("*.onnx")):
        data = path.read_bytes()
        assert not [m for m in machine if m in data], path.name
        proto = onnx.load_from_string(data)
        traced += sum(p.key == STACK_TRACE and 'File "ltx_core/' in p.value for n in proto.graph.node
                      for p in n.metadata_props)
    assert traced > 0  # the traces are still there, relative


def test_interrupted_export_leaves_no_manifest_and_no_partial_folder(tiny_export, tmp_path, monkeypatch):
    artifacts = tiny_export("rtx4090")  # the tiny weights already exist there
    target = tmp_path / "art"
    (target / "tiny").mkdir(parents=True)
    (target / "tiny" / "weights").symlink_to(artifacts / "tiny" / "weights")

    from ltx_trt.export import pipeline

    def fail(*args, **kwargs):
        raise KeyboardInterrupt  # as if the user pressed Ctrl-C during the second component

    calls = iter([pipeline._export_component, fail])
    monkeypatch.setattr(pipeline, "_export_component", lambda *a, **k: next(calls)(*a, **k))
    result = CliRunner().invoke(main, ["export", "--gpu", "rtx4090", "--model", "tiny", "--artifacts", str(target),
                                       "--component", "text_encoder", "--component", "connector"])
    assert result.exit_code != 0
    assert not (target / "tiny" / "rtx4090" / "onnx").exists()
    assert not (target / "tiny" / "rtx4090" / "onnx.partial").exists()


def test_unknown_component_is_a_user_error(tiny_export):
    result = CliRunner().invoke(main, ["export", "--gpu", "rtx4090", "--model", "tiny", "--component", "vae",
                                       "--artifacts", str(tiny_export("rtx4090"))])
    assert result.exit_code == 1 and "unknown component 'vae'" in result.output


@pytest.mark.parametrize("profile", ["rtx3060"])
def test_profiles_with_one_bucket_export_only_that_bucket(tiny_export, profile):
    manifest = json.loads((tiny_export(profile) / "tiny" / profile / "onnx" / "manifest.json").read_text())
    assert len(manifest["graphs"]) == 4 + GRAPHS_PER_BUCKET
