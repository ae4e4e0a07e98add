"""build_engines stays on its side: no model code, no torch, and TensorRT only when a build runs."""

import ast
import subprocess
import sys
from pathlib import Path

BUILD_ENGINES = Path(__file__).resolve().parents[2] / "build_engines"
FORBIDDEN = ("torch", "ltx_trt.export", "ltx_trt.model", "ltx_core", "tensorrt")


def test_build_engines_never_imports_torch_model_or_export_code():
    offenders = []
    for path in BUILD_ENGINES.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN or n.startswith(FORBIDDEN)]
    assert offenders == []  # TensorRT is imported by name in backend.load_backend, never at module level


def test_importing_the_build_stage_loads_neither_torch_nor_tensorrt():
    code = ("import sys; import ltx_trt.build_engines.build\n"
            "print(sorted(m for m in ('torch', 'tensorrt', 'tensorrt_rtx', 'onnx') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
