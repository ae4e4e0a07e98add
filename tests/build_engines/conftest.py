"""Tiny exports for the build-stage tests: small ONNX graphs plus an export manifest of the real format.

They stand in for `ltx-trt export` where a build test needs seconds, not the tiny model's export;
build_all accepts any manifest of this format. Each graph is one Linear (64 x 64, seeded) in the profile's precision; two keep their
weights outside the .onnx, in the two ways the exporter does (see WEIGHTS).
"""

import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnx.external_data_helper import set_external_data

from ltx_trt.core.checkpoint import read_header
from ltx_trt.core.manifest import sha256_file, write_atomic
from ltx_trt.core.profiles import PROFILES_DIR, Profile, parse_profile, profile_sha256
from ltx_trt.core.source import onnx_dir

WIDTH = 64
ONNX_DTYPES = {"bf16": (TensorProto.BFLOAT16, "bfloat16", 2), "fp32": (TensorProto.FLOAT, "float32", 4)}
# Quantized precisions' stand-ins are plain bf16 graphs labelled with the profile's precision: these tests
# are about what the build stage decides; the real FP8 / INT4 graphs are built in test_tiny_model_engines.
ONNX_DTYPES |= {name: ONNX_DTYPES["bf16"] for name in ("fp8", "nvfp4", "int4")}
# key -> (component, variant, input name, output name); "{b}" is the profile's first bucket
GRAPHS = {
    "text_encoder": ("text_encoder", "", "text_embeddings", "hidden_states"),
    "connector": ("connector", "", "hidden_states", "video_context"),
    "transformer.{b}.stage1": ("transformer", "{b}.stage1", "video_tokens", "video_velocity"),
    "video_decoder.{b}": ("video_decoder", "{b}", "video_latent", "video_pixels"),
}
# How weights are stored: in the .onnx, in an external data file (`data`), or in a safetensors file that
# stands for a hard link to the checkpoint (`linked`: identified by its header fingerprint, as export does).
WEIGHTS = {"transformer": "data", "video_decoder": "linked"}


@dataclass(frozen=True)
class TinyExport:
    artifacts: Path
    profile: Profile
    profiles_dir: Path
    model_id: str = "tiny"

    @property
    def onnx_dir(self) -> Path:
        return onnx_dir(self.artifacts, self.model_id, self.profile.name)

    @property
    def engines_dir(self) -> Path:
        return self.artifacts / self.model_id / self.profile.name / "engines"

    def keys(self) -> list[str]:
        return [k.format(b=self.profile.buckets[0].name) for k in GRAPHS]

    def write(self, seeds: dict | None = None, profile: Profile | None = None) -> "TinyExport":
        """(Re-)export: write every graph (weights seeded per key) and the manifest, last."""
        export = self if profile is None else TinyExport(self.artifacts, profile, self.profiles_dir, self.model_id)
        export.onnx_dir.mkdir(parents=True, exist_ok=True)
        graphs = {}
        for template, names in GRAPHS.items():
            key = template.format(b=export.profile.buckets[0].name)
            graphs[key] = export._write_graph(key, *names, (seeds or {}).get(key, 0))
        manifest = {
            "format": 1, "stage": "export", "model_id": export.model_id, "profile": export.profile.name,
            "profile_sha256": profile_sha256(export.profile),
            "checkpoint": {"path": "tiny.safetensors", "fingerprint": "f" * 64, "sha256": "0" * 64},
            "versions": {"onnx": onnx.__version__}, "graphs": graphs,
        }
        write_atomic(export.onnx_dir / "manifest.json", manifest)
        return export

    def _write_graph(self, key, component, variant, name_in, name_out, seed) -> dict:
        precision = self.profile.precision[component]
        elem, dtype, _ = ONNX_DTYPES[precision]
        variant = variant.format(b=self.profile.buckets[0].name)
        weights = np.random.default_rng(seed).standard_normal((WIDTH, WIDTH)).astype(np.float32)
        raw = (weights.view(np.uint32) >> 16).astype(np.uint16) if dtype == "bfloat16" else weights  # bf16: top half
        weight = helper.make_tensor(f"{component}.weight", elem, weights.shape, raw.tobytes(), raw=True)
        graph = helper.make_graph(
            [helper.make_node("MatMul", [name_in, weight.name], ["projected"]),
             helper.make_node("Relu", ["projected"], [name_out])], key,
            [helper.make_tensor_value_info(name_in, elem, [1, 8, WIDTH])],
            [helper.make_tensor_value_info(name_out, elem, [1, 8, WIDTH])], [weight])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        path = self.onnx_dir / f"{key}.onnx"
        data_files = []
        if WEIGHTS.get(component) == "data":
            data = f"{key}.weights"
            (self.onnx_dir / data).unlink(missing_ok=True)
            onnx.save(model, path, save_as_external_data=True, location=data, size_threshold=0)
            data_files = [{"file": data, "sha256": sha256_file(self.onnx_dir / data)}]
        elif WEIGHTS.get(component) == "linked":
            data_files = [self._link_weights(model.graph.initializer[0], f"weights.{component}.safetensors")]
            onnx.save(model, path)
        else:
            onnx.save(model, path)
        io = lambda name: [{"name": name, "shape": [1, 8, WIDTH], "dtype": dtype}]  # noqa: E731
        return {"component": component, "variant": variant, "file": path.name, "sha256": sha256_file(path),
                "data_files": data_files, "precision": precision, "inputs": io(name_in), "outputs": io(name_out),
                "reference": f"{key}.reference.npz"}


    def _link_weights(self, tensor, name: str) -> dict:
        """Move `tensor` into a one-tensor safetensors file and point the ONNX at its bytes in place."""
        raw = tensor.raw_data
        header = json.dumps({tensor.name: {"dtype": "BF16" if tensor.data_type == TensorProto.BFLOAT16 else "F32",
                                           "shape": list(tensor.dims), "data_offsets": [0, len(raw)]}}).encode()
        path = self.onnx_dir / name
        path.write_bytes(struct.pack("<Q", len(header)) + header + raw)
        set_external_data(tensor, name, offset=8 + len(header), length=len(raw))
        tensor.ClearField("raw_data")
        tensor.data_location = TensorProto.EXTERNAL
        return {"file": name, "sha256": f"fingerprint:{read_header(path).fingerprint}", "linked": True}


def weight_bytes(profile: Profile, component: str) -> int:
    return WIDTH * WIDTH * ONNX_DTYPES[profile.precision[component]][2]


def profile_variant(folder: Path, name: str, *edits: tuple[str, str]) -> Profile:
    """A copy of profiles/<name>.toml in `folder` with text edits applied, parsed like a shipped one."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.toml").write_bytes((PROFILES_DIR / f"{name}.toml").read_bytes())
    return _edit(folder / f"{name}.toml", edits)


def edit_profile(export: TinyExport, *edits: tuple[str, str]) -> Profile:
    """Edit the export's profile file in place (as a user would) and return the re-parsed profile."""
    return _edit(export.profiles_dir / f"{export.profile.name}.toml", edits)


def _edit(path: Path, edits) -> Profile:
    text = path.read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text)
    return parse_profile(path)


def corrupt_graph(export: TinyExport, key: str) -> None:
    """Make `key` a graph TensorRT cannot parse (an unknown op), consistently registered in the manifest."""
    path = export.onnx_dir / f"{key}.onnx"
    path.write_bytes(path.read_bytes().replace(b"Relu", b"Relx"))
    manifest_path = export.onnx_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["graphs"][key]["sha256"] = sha256_file(path)
    manifest_path.write_text(json.dumps(manifest))


@pytest.fixture
def linear_export(tmp_path):
    """A factory: linear_export("rtx4090") is a written tiny export for that shipped profile."""

    def make(name: str, *edits: tuple[str, str]) -> TinyExport:
        profiles = tmp_path / "profiles"
        profile = profile_variant(profiles, name, *edits)
        return TinyExport(tmp_path / "artifacts", profile, profiles).write()

    return make
