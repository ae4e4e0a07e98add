"""The build stage on the CPU-only machine: real tiny engines with tensorrt_rtx, manifests, incremental rebuilds."""

import json
from pathlib import Path

import pytest

from conftest import corrupt_graph, edit_profile, weight_bytes
from ltx_trt.build_engines.build import build_all
from ltx_trt.core.errors import UserError
from ltx_trt.core.manifest import sha256_file
from ltx_trt.core.profiles import available_profiles, load_profile

pytest.importorskip("tensorrt_rtx", reason="tensorrt_rtx is not installed (pip install tensorrt-rtx)")

RTX_PROFILES = [n for n in available_profiles() if load_profile(n).backend == "tensorrt_rtx"]


def _build(export, capsys, **kwargs) -> tuple[dict, str]:
    path = build_all(export.model_id, export.profile, export.artifacts, **kwargs)
    return json.loads(path.read_text()), capsys.readouterr().out


def _built(out: str) -> set[str]:
    return {line.split("]", 1)[1].split(":")[0].strip() for line in out.splitlines() if ": building (" in line}


@pytest.mark.parametrize("name", RTX_PROFILES)
def test_every_rtx_profile_builds_tiny_engines_on_a_cpu_only_machine(linear_export, capsys, name):
    export = linear_export(name)
    manifest, out = _build(export, capsys)

    profile = export.profile
    assert manifest["stage"] == "build-engines" and manifest["profile"] == name
    assert manifest["backend"]["name"] == "tensorrt_rtx" and manifest["backend"]["version"].startswith("1.")
    assert manifest["compute_capabilities"] == list(profile.compute_capabilities)
    assert manifest["onnx_manifest_sha256"] == sha256_file(export.onnx_dir / "manifest.json")
    assert manifest["build_options"]["weight_streaming"] == profile.memory.weight_streaming
    assert manifest["runtime_cache"].startswith("runtime-cache/")
    assert sorted(manifest["engines"]) == sorted(export.keys())
    onnx_graphs = json.loads((export.onnx_dir / "manifest.json").read_text())["graphs"]
    for key, engine in manifest["engines"].items():
        path = export.engines_dir / engine["file"]
        assert engine["sha256"] == sha256_file(path) and engine["size_bytes"] == path.stat().st_size
        assert engine["build_inputs"]["onnx"]["sha256"] == onnx_graphs[key]["sha256"]
        assert engine["inputs"] == onnx_graphs[key]["inputs"] and engine["outputs"] == onnx_graphs[key]["outputs"]
        assert engine["precision"] == profile.precision[engine["component"]]
        assert engine["build_seconds"] > 0
        memory, weights = engine["memory"], weight_bytes(profile, engine["component"])
        assert weights <= memory["weights_bytes"] < 2 * weights, memory  # the builder's own report
        assert memory["activation_bytes"] > 0 and memory["source"] == "builder log"
    assert f"built {len(export.keys())}, up to date 0" in out
    assert not [p for p in export.engines_dir.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_second_run_rebuilds_nothing_and_says_so(linear_export, capsys):
    export = linear_export("rtx4090")
    first, _ = _build(export, capsys)
    mtimes = {p.name: p.stat().st_mtime_ns for p in export.engines_dir.glob("*.engine")}

    second, out = _build(export, capsys)

    assert _built(out) == set()
    assert "nothing to rebuild: 4 engine(s) up to date" in out
    assert {p.name: p.stat().st_mtime_ns for p in export.engines_dir.glob("*.engine")} == mtimes
    assert second["engines"] == first["engines"]


def test_force_rebuilds_everything(linear_export, capsys):
    export = linear_export("rtx4090")
    _build(export, capsys)

    _, out = _build(export, capsys, force=True)

    assert _built(out) == set(export.keys()) and "(--force)" in out


def test_changed_onnx_rebuilds_exactly_that_engine(linear_export, capsys):
    export = linear_export("rtx4090")
    _build(export, capsys)
    changed = export.keys()[2]  # the transformer, whose weights live in an external data file

    export.write(seeds={changed: 1})  # re-export: new weights for one graph, the others byte-identical
    manifest, out = _build(export, capsys)

    assert _built(out) == {changed}
    assert "ONNX file changed" in out or "external weights changed" in out
    assert manifest["engines"][changed]["build_inputs"]["data_files"][0]["sha256"] == sha256_file(
        export.onnx_dir / f"{changed}.weights")


def test_changed_profile_precision_rebuilds_only_that_component(linear_export, capsys):
    export = linear_export("rtx4090")
    _build(export, capsys)

    edited = export.write(profile=edit_profile(export, ('transformer = "fp8"', 'transformer = "bf16"')))
    manifest, out = _build(edited, capsys)

    transformer = [k for k in export.keys() if k.startswith("transformer.")]
    assert _built(out) == set(transformer)
    assert "precision fp8 -> bf16" in out
    assert manifest["engines"][transformer[0]]["precision"] == "bf16"


def test_changed_target_gpus_or_streaming_rebuild_everything_and_say_why(linear_export, capsys):
    export = linear_export("rtx4090")
    _build(export, capsys)

    more = export.write(profile=edit_profile(export, ('["8.9"]', '["8.9", "12.0"]')))
    manifest, out = _build(more, capsys)
    assert _built(out) == set(export.keys()) and "compute_capabilities 8.9 -> 8.9,12.0" in out
    assert manifest["compute_capabilities"] == ["8.9", "12.0"]

    streaming = more.write(profile=edit_profile(more, ("weight_streaming = true", "weight_streaming = false")))
    manifest, out = _build(streaming, capsys)
    assert _built(out) == set(export.keys()) and "weight_streaming True -> False" in out
    assert manifest["build_options"]["weight_streaming"] is False


def test_interrupted_build_keeps_finished_engines(linear_export, capsys):
    export = linear_export("rtx4090")
    last = export.keys()[-1]
    corrupt_graph(export, last)
    with pytest.raises(UserError, match="cannot parse"):
        _build(export, capsys)
    assert not (export.engines_dir / "manifest.json").exists()  # written last: absent after a failure
    assert not (export.engines_dir / f"{last}.engine").exists()

    assert "[4/4] video_decoder" in capsys.readouterr().out
    export.write()  # the fixed export
    gone = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1  # a pid no process can have
    leftover = export.engines_dir / f".{last}.engine.{gone}.tmp"  # as if killed while writing
    leftover.write_bytes(b"partial")
    _, out = _build(export, capsys)

    assert not leftover.exists() and f"removed {leftover.name}" in out

    assert _built(out) == {last}, out


def test_graph_dropped_from_the_export_loses_its_engine(linear_export, capsys):
    export = linear_export("rtx4090")
    _build(export, capsys)
    path = export.onnx_dir / "manifest.json"
    onnx_manifest = json.loads(path.read_text())
    dropped = export.keys()[1]
    del onnx_manifest["graphs"][dropped]
    path.write_text(json.dumps(onnx_manifest))

    manifest, out = _build(export, capsys)

    assert dropped not in manifest["engines"] and f"removed engine {dropped}" in out
    assert not list(export.engines_dir.glob(f"{dropped}.*"))


def _make_partial(export, keep: str) -> None:
    """As `export --component`: the manifest lists only the re-made graph, the other files are gone."""
    path = export.onnx_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    for key in [k for k in manifest["graphs"] if k != keep]:
        for item in (manifest["graphs"][key], *manifest["graphs"][key]["data_files"]):
            (export.onnx_dir / item["file"]).unlink()
        del manifest["graphs"][key]
    manifest["partial"] = True
    path.write_text(json.dumps(manifest))


def test_partial_export_rebuilds_its_graphs_and_keeps_the_other_engines(linear_export, capsys):
    export = linear_export("rtx4090")
    first, _ = _build(export, capsys)
    transformer = export.keys()[2]
    _make_partial(export.write(seeds={transformer: 3}), transformer)

    manifest, out = _build(export, capsys)

    assert _built(out) == {transformer} and out.count("not in this partial export") == 3
    assert sorted(manifest["engines"]) == sorted(export.keys())
    assert manifest["engines"]["connector"] == first["engines"]["connector"]


def test_partial_export_cannot_keep_engines_built_for_other_settings(linear_export, capsys):
    export = linear_export("rtx4090")
    _build(export, capsys)
    streaming_off = edit_profile(export, ("weight_streaming = true", "weight_streaming = false"))
    _make_partial(export.write(profile=streaming_off), export.keys()[0])

    with pytest.raises(UserError) as err:
        build_all("tiny", streaming_off, export.artifacts)

    assert "weight_streaming True -> False" in err.value.message and "(all components)" in err.value.hint


@pytest.mark.filterwarnings("ignore:.*Timing cache operations are no-ops:DeprecationWarning")
def test_timing_cache_is_kept_on_disk_for_full_tensorrt_only(linear_export, capsys):
    # Full TensorRT is not installable here: tensorrt_rtx stands in for its builder (same API) with the
    # `tensorrt` traits, which exercises writing the cache. Reading a non-empty cache back needs a GPU.
    import dataclasses

    import tensorrt_rtx

    from ltx_trt.build_engines.backend import TRAITS, Backend
    from ltx_trt.build_engines.engine_build import BuildSettings, build_engine

    export = linear_export("rtx4090")
    _build(export, capsys)
    assert not (export.engines_dir / "timing.cache").exists()  # a no-op on TensorRT-RTX: not kept

    traits = dataclasses.replace(TRAITS["tensorrt"], deserializes_on_build_host=False)
    stand_in = Backend("tensorrt", tensorrt_rtx, traits)
    build_engine(stand_in, export.onnx_dir / "connector.onnx", BuildSettings(("8.9",), False),
                 export.engines_dir / "connector.engine")
    assert (export.engines_dir / "timing.cache").stat().st_size > 0


def test_missing_engine_or_damaged_record_rebuilds_that_engine_and_says_why(linear_export, capsys):
    export = linear_export("rtx4090")
    _build(export, capsys)
    first, second = export.keys()[:2]
    (export.engines_dir / f"{first}.engine").unlink()
    (export.engines_dir / f"{second}.build.json").write_text("{")

    _, out = _build(export, capsys)

    assert _built(out) == {first, second}
    assert f"{first}: building (engine file missing)" in out
    assert f"{second}: building (its build record is unreadable)" in out
