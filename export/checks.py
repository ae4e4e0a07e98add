"""Structural checks on exported ONNX graphs: no data-dependent shapes, I/O matches the plan.

TensorRT-RTX has no NonZero, and static engines want no control flow: a graph holding NonZero, If,
Loop or Scan anywhere (subgraphs and functions included) is refused. Imports onnx only.
"""

import onnx

from ltx_trt.core.dtypes import DTYPES
from ltx_trt.core.plan import Graph

FORBIDDEN_OPS = ("NonZero", "If", "Loop", "Scan")
_ONNX_DTYPES = {d.onnx: d.name for d in DTYPES.values()}


def op_counts(model: onnx.ModelProto) -> dict[str, int]:
    counts: dict[str, int] = {}

    def visit(nodes):
        for node in nodes:
            counts[node.op_type] = counts.get(node.op_type, 0) + 1
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    visit(attr.g.node)
                for sub in attr.graphs:
                    visit(sub.node)

    visit(model.graph.node)
    for function in model.functions:
        visit(function.node)
    return counts


def forbidden_ops(model: onnx.ModelProto) -> list[str]:
    counts = op_counts(model)
    return [f"{op} x{counts[op]}" for op in FORBIDDEN_OPS if op in counts]


def io_specs(values) -> list[dict]:
    specs = []
    for value in values:
        tensor = value.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in tensor.shape.dim]
        specs.append({"name": value.name, "shape": shape, "dtype": _ONNX_DTYPES.get(tensor.elem_type, str(tensor.elem_type))})
    return specs


def check_graph(model: onnx.ModelProto, graph: Graph) -> None:
    """Refuse a graph with data-dependent ops or I/O that differs from the static plan (a bug, not user error)."""
    bad = forbidden_ops(model)
    if bad:
        raise RuntimeError(f"{graph.key}: exported graph has data-dependent ops {bad}; an export override is missing")
    for kind, got, want in (("inputs", io_specs(model.graph.input), graph.inputs),
                            ("outputs", io_specs(model.graph.output), graph.outputs)):
        expected = [s.as_dict() for s in want]
        if got != expected:
            raise RuntimeError(f"{graph.key}: exported {kind} {got} differ from the plan {expected}")
