"""The dependency direction of style.md: runtime imports neither export nor build_engines, and
build_engines never imports export (TensorRT on one side, model code on the other)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "runtime": ("ltx_trt.export", "ltx_trt.build_engines"),
    "model": ("ltx_trt.export", "ltx_trt.build_engines"),
    "build_engines": ("ltx_trt.export", "ltx_trt.model"),
}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_stage_folders_respect_the_import_direction():
    offenders = []
    for folder, forbidden in FORBIDDEN.items():
        for path in (ROOT / folder).rglob("*.py"):
            offenders += [f"{path.relative_to(ROOT)} imports {n}" for n in _imports(path) if n.startswith(forbidden)]
    assert offenders == []


def test_modules_stay_small():
    big = [f"{p.relative_to(ROOT)}: {n} lines" for folder in ("ltx_trt", "runtime", "model", "export", "build_engines")
           for p in (ROOT / folder).rglob("*.py") if (n := len(p.read_text().splitlines())) > 400]
    assert big == []
