"""The package graph (docs/DESIGN.md "Layering"): which ltx_trt packages each package may import.

Every import counts, at module level or inside a function, so a cycle cannot hide behind a lazy import.
  core          <- everything; imports nothing of ltx_trt
  model         -> core                     (ltx-core modules, weight readers, the tiny model)
  runtime       -> core                     (executors, chains, weight stores, step, loop, pipeline)
  export        -> core, model
  build_engines -> core                     (TensorRT on one side, model code on the other)
  commands      -> core, model, runtime, export, build_engines   (run and doctor wire them together)
  ltx_trt (cli) -> anything; nothing imports it
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {
    "core": set(),
    "model": {"core"},
    "runtime": {"core"},
    "export": {"core", "model"},
    "build_engines": {"core"},
    "commands": {"core", "model", "runtime", "export", "build_engines"},
    "ltx_trt": {"core", "model", "runtime", "export", "build_engines", "commands"},
}
PACKAGES = set(ALLOWED) | {"profiles"}


def imported_packages(source: str) -> set[str]:
    """The ltx_trt packages a module's source imports, wherever the import statement is."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        for name in names:
            parts = name.split(".")
            if parts[0] == "ltx_trt":
                found.add(parts[1] if len(parts) > 1 and parts[1] in PACKAGES else "ltx_trt")
            if isinstance(node, ast.ImportFrom) and node.level:
                raise AssertionError(f"relative import {name!r}: write ltx_trt.<package> imports")
    return found


def violations() -> list[str]:
    offenders = []
    for package, allowed in ALLOWED.items():
        for path in (ROOT / package).rglob("*.py"):
            for imported in imported_packages(path.read_text()) - allowed - {package}:
                offenders.append(f"{path.relative_to(ROOT)} imports ltx_trt.{imported}")
    return offenders


def test_every_package_imports_only_the_layers_below_it():
    assert violations() == []


def test_the_allowed_graph_has_no_cycle():
    order, left = [], dict(ALLOWED)
    while left:
        ready = [p for p, deps in left.items() if deps <= set(order)]
        assert ready, f"cycle among {sorted(left)}"
        order += ready
        for p in ready:
            del left[p]
    assert order[0] == "core" and order[-1] == "ltx_trt"


def test_a_function_level_import_counts_like_a_module_level_one():
    source = "def run():\n    from ltx_trt.commands.run import run\n    import ltx_trt.model.files\n"
    assert imported_packages(source) == {"commands", "model"}
    assert imported_packages("from ltx_trt.core.errors import UserError\nimport torch\n") == {"core"}


def test_modules_stay_small():
    big = [f"{p.relative_to(ROOT)}: {n} lines" for folder in ALLOWED
           for p in (ROOT / folder).rglob("*.py") if (n := len(p.read_text().splitlines())) > 400]
    assert big == []
