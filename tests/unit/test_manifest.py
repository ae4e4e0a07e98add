import json

import pytest

from ltx_trt.core.errors import UserError
from ltx_trt.core.manifest import read_manifest, write_atomic


def test_atomic_write_leaves_no_partial_file_on_failure(tmp_path):
    path = tmp_path / "manifest.json"
    with pytest.raises(TypeError):
        write_atomic(path, {"bad": object()})
    assert list(tmp_path.iterdir()) == []
    write_atomic(path, {"ok": 1})
    assert json.loads(path.read_text()) == {"ok": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]


def test_missing_or_corrupt_manifest_names_the_fix(tmp_path):
    with pytest.raises(UserError) as err:
        read_manifest(tmp_path / "manifest.json", "ltx-trt export --gpu rtx4090 --model tiny")
    assert "ltx-trt export" in err.value.hint
    (tmp_path / "manifest.json").write_text("{")
    with pytest.raises(UserError, match="corrupt"):
        read_manifest(tmp_path / "manifest.json", "ltx-trt export")
