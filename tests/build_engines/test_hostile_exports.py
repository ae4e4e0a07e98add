"""A crafted or damaged export folder: build-engines opens and writes only inside its folders, and trusts a
file only by its content (issue #14). Each case is a one-line UserError naming the file, and nothing is
written where it should not be."""

import json
import os

import onnx
import pytest

from ltx_trt.build_engines.build import build_all
from ltx_trt.core.errors import UserError
from ltx_trt.core.manifest import sha256_file

pytest.importorskip("tensorrt_rtx", reason="tensorrt_rtx is not installed (pip install tensorrt-rtx)")


def _refusal(export) -> UserError:
    with pytest.raises(UserError) as err:
        build_all(export.model_id, export.profile, export.artifacts)
    assert "\n" not in err.value.message and err.value.hint.startswith("run: ltx-trt export")
    return err.value


def _edit_manifest(export, change) -> None:
    path = export.onnx_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest["graphs"])
    path.write_text(json.dumps(manifest))


def _same_size_change(path) -> None:
    """Flip one byte in place and put the modification time back: size and mtime as before."""
    stat = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns


def test_a_graph_name_with_path_parts_is_refused_and_nothing_is_written_outside(linear_export, tmp_path):
    export = linear_export("rtx4090")
    key = export.keys()[0]
    escape = f"../../../../{tmp_path.name}/escaped"
    _edit_manifest(export, lambda graphs: graphs.update({f"{key}.{escape}": graphs.pop(key)}))
    assert "is not a graph name" in _refusal(export).message
    assert not list(tmp_path.parent.glob("**/escaped*"))


@pytest.mark.parametrize("name", ["/etc/hostname", "../../outside.onnx", "sub/../../x.onnx", ""])
def test_file_names_leading_out_of_the_onnx_folder_are_refused(linear_export, name):
    export = linear_export("rtx4090")
    key = export.keys()[0]
    _edit_manifest(export, lambda graphs: graphs[key].update(file=name))
    assert "not a plain name" in _refusal(export).message or "not a path inside" in _refusal(export).message


def test_a_symlink_out_of_the_onnx_folder_is_refused(linear_export, tmp_path):
    export = linear_export("rtx4090")
    key = export.keys()[0]
    outside = tmp_path / "elsewhere.onnx"
    (export.onnx_dir / f"{key}.onnx").rename(outside)
    (export.onnx_dir / f"{key}.onnx").symlink_to(outside)  # same bytes, same hash: only the place differs
    assert "leads outside" in _refusal(export).message


def test_external_data_outside_the_folder_is_refused_before_the_parser_reads_it(linear_export, tmp_path):
    export = linear_export("rtx4090")
    key = export.keys()[2]  # the transformer stand-in keeps its weights in `<key>.weights`
    path = export.onnx_dir / f"{key}.onnx"
    model = onnx.load(str(path), load_external_data=False)
    for entry in model.graph.initializer[0].external_data:
        if entry.key == "location":
            entry.value = "../../../../../../etc/hostname"
    onnx.save(model, str(path))
    _edit_manifest(export, lambda graphs: graphs[key].update(sha256=sha256_file(path)))  # a consistent forgery
    assert "is not a path inside" in _refusal(export).message


def test_a_truncated_onnx_with_a_matching_hash_is_one_line_naming_it(linear_export):
    export = linear_export("rtx4090")
    key = export.keys()[0]
    path = export.onnx_dir / f"{key}.onnx"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    _edit_manifest(export, lambda graphs: graphs[key].update(sha256=sha256_file(path)))
    err = _refusal(export)
    assert f"{path} is not a readable ONNX file" in err.message


def test_same_size_same_mtime_onnx_corruption_is_caught_after_a_good_build(linear_export, capsys):
    export = linear_export("rtx4090")
    build_all("tiny", export.profile, export.artifacts)  # verifies and remembers every file's identity
    path = export.onnx_dir / f"{export.keys()[0]}.onnx"
    _same_size_change(path)
    assert "differs from the ONNX manifest" in _refusal(export).message


def test_same_size_engine_corruption_is_rebuilt_not_up_to_date(linear_export, capsys):
    export = linear_export("rtx4090")
    build_all("tiny", export.profile, export.artifacts)
    key = export.keys()[0]
    engine = export.engines_dir / f"{key}.engine"
    _same_size_change(engine)
    capsys.readouterr()
    build_all("tiny", export.profile, export.artifacts)
    assert f"{key}: building (engine file changed since it was built)" in capsys.readouterr().out
    manifest = json.loads((export.engines_dir / "manifest.json").read_text())
    assert manifest["engines"][key]["sha256"] == sha256_file(engine)
