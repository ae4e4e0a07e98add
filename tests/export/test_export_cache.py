"""The export cache (export/cache.py): profiles that need the same graph of an architecture export it once. A hit
copies the files after checking their sha256; a changed graph, architecture or exporter is a miss; a tampered or
foreign cache entry is refused, removed and exported again."""

import dataclasses
import json

import pytest

from ltx_trt.core.manifest import sha256_file
from ltx_trt.core.plan import physical, profile_graphs
from ltx_trt.core.profiles import load_profile
from ltx_trt.export import cache as export_cache
from ltx_trt.export.pipeline import export_model, load_json
from ltx_trt.model.architecture import ArchitectureFiles

ARCH = "ltx-2.3-tiny"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return ArchitectureFiles(ARCH, tmp_path_factory.mktemp("arch"))


def _keys(files, profile: str) -> dict:
    graphs = physical(profile_graphs(load_profile(profile), files.dims))
    return {g.key: export_cache.cache_key(files.architecture, g) for g in graphs}


def test_profiles_share_the_keys_of_the_graphs_they_share(files):
    rtx3060, rtx4090, rtx5090 = (_keys(files, p) for p in ("rtx3060", "rtx4090", "rtx5090"))
    assert rtx5090 == rtx4090  # only the compute capability differs
    assert rtx3060["connector"] == rtx4090["connector"]
    assert rtx3060["audio_decoder.768x512-5s"] == rtx4090["audio_decoder.768x512-5s"]
    assert rtx3060["transformer.768x512-5s.stage1.pre"] != rtx4090["transformer.768x512-5s.stage1.pre"]  # int4


def test_the_key_changes_with_the_graph_the_architecture_and_the_exporter(files, monkeypatch):
    graph = physical(profile_graphs(load_profile("rtx4090"), files.dims))[0]
    key = export_cache.cache_key(files.architecture, graph)
    assert export_cache.cache_key(files.architecture, graph) == key
    assert export_cache.cache_key("0" * 64, graph) != key
    assert export_cache.cache_key(files.architecture, dataclasses.replace(graph, precision="bf16")) != key
    other = {**export_cache.exporter_id(), "code_sha256": "edited"}
    monkeypatch.setattr(export_cache, "exporter_id", lambda: other)
    assert export_cache.cache_key(files.architecture, graph) != key


def _export(profile: str, artifacts, lines: list) -> dict:
    folder = export_model(None, load_profile(profile), artifacts, only=("connector",), log=lines.append,
                          architecture=ARCH)
    return load_json(folder / "manifest.json")["graphs"]["connector"]


def _cached(artifacts) -> tuple:
    (folder,) = [p for p in export_cache.cache_dir(artifacts, ARCH).iterdir() if not p.name.startswith(".")]
    return folder, json.loads((folder / export_cache.ENTRY_NAME).read_text())


def test_a_second_profile_reuses_the_graph_and_a_tampered_entry_is_exported_again(tmp_path):
    first, second, third = [], [], []
    exported = _export("rtx4090", tmp_path, first)
    assert not any("export cache" in line for line in first)
    reused = _export("rtx5090", tmp_path, second)
    assert any("connector: reused from the export cache" in line for line in second)
    assert not any("built from the architecture" in line for line in second)  # no module built for a full hit
    assert reused == exported
    onnx = tmp_path / ARCH / "rtx5090" / "onnx" / "connector.onnx"
    assert sha256_file(onnx) == exported["sha256"]

    folder, stored = _cached(tmp_path)
    with (folder / "connector.onnx").open("ab") as f:
        f.write(b"\0")  # a damaged (or planted) cached file
    again = _export("rtx3060", tmp_path, third)
    assert any("refused" in line and "differs from its sha256" in line for line in third)
    assert any("built from the architecture" in line for line in third)
    assert sha256_file(tmp_path / ARCH / "rtx3060" / "onnx" / "connector.onnx") == again["sha256"]
    folder, restored = _cached(tmp_path)  # exported again and stored afresh
    assert sha256_file(folder / "connector.onnx") == restored["entry"]["sha256"]


def test_an_entry_for_another_graph_or_naming_a_path_outside_is_refused(tmp_path, files):
    lines = []
    _export("rtx4090", tmp_path, lines)
    folder, stored = _cached(tmp_path)
    graph = physical(profile_graphs(load_profile("rtx4090"), files.dims))
    connector = next(g for g in graph if g.key == "connector")
    out = tmp_path / "out"
    out.mkdir()
    for tampered in ({**stored["entry"], "file": "../connector.onnx"}, {**stored["entry"], "inputs": []}):
        (folder / export_cache.ENTRY_NAME).write_text(json.dumps({**stored, "entry": tampered}))
        assert export_cache.fetch(folder.parent, folder.name, connector, out, lines.append) is None
        assert not folder.exists() and not list(out.iterdir())
        folder.mkdir()
        for name in ("connector.onnx",):
            (folder / name).write_bytes(b"x")
    assert sum("refused" in line for line in lines) == 2
