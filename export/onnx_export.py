"""Trace a plain-tensor wrapper to ONNX and save it with its weights as external data.

Weights that are zero-copy views of a safetensors file (model/weights.py) are not copied: the ONNX
external-data entries point at their bytes inside a hard link of that file placed next to the .onnx.
Everything else large goes to `<graph>.data`; small constants stay inline. The source paths in the stack traces
torch's exporter stores on every node are made relative, so an ONNX names no folder of the machine that built it.
Imports torch, onnx, onnx_ir; of ltx_trt, imports core and model.
"""

import contextlib
import logging
import os
import re
import warnings
from pathlib import Path

import onnx
import onnx_ir as ir
import torch

from ltx_trt.core.plan import Graph
from ltx_trt.export.quantized_onnx import TRANSLATIONS, opset_of, retype_packed

INLINE_BYTES = 1 << 16  # initializers above this size go to external data
STACK_TRACE = "pkg.torch.onnx.stack_trace"  # the node metadata holding the Python frames that made the node
SOURCE_ROOT = Path(__file__).resolve().parent.parent  # where ltx_trt's packages are (an editable checkout)
_FRAME_FILE = re.compile(r'File "([^"]+)"')


def trace(wrapper: torch.nn.Module, args: list[torch.Tensor], graph: Graph, overrides=contextlib.nullcontext):
    """torch's dynamo exporter without its optimizer, then the optimizer with weights held out of folding."""
    # torch's exporter logs a warning per torchvision op it cannot register (torchvision is not used)
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    with torch.no_grad(), overrides(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch-internal pytree deprecations
        program = torch.onnx.export(
            wrapper, tuple(args), dynamo=True, opset_version=opset_of(graph.inputs), optimize=False, verbose=False,
            input_names=[s.name for s in graph.inputs], output_names=[s.name for s in graph.outputs],
            custom_translation_table=TRANSLATIONS,
        )
    names = [n for n, _ in wrapper.named_parameters()] + [n for n, _ in wrapper.named_buffers()]
    optimize_keeping_weights(program.model, names)
    retype_packed(program.model, {s.name: s for s in graph.inputs})
    return program.model


def optimize_keeping_weights(model: ir.Model, weight_names: list[str]) -> None:
    """Inline functions, fold constants and drop dead nodes, never folding through a weight.

    torch's own `optimize=True` folded 86 of 230 transformer weights into renamed `val_N` copies
    (transposed Linear weights, sliced AdaLN tables); here no node that reads a weight is folded, so
    every weight keeps its state_dict name and the checkpoint's layout, and its data is never read.
    Only these three passes run: onnxscript's full optimizer (its rewrite rules) took time quadratic
    in the graph size (15 s at 4 full-width blocks, most of an hour projected at 48).
    """
    import onnxscript.optimizer

    weights = set(weight_names)

    def should_fold(node: ir.Node) -> bool | None:
        return False if any(v is not None and v.name in weights for v in node.inputs) else None

    onnxscript.optimizer.inline(model)
    onnxscript.optimizer.fold_constants_ir(model, should_fold=should_fold)
    onnxscript.optimizer.remove_unused_nodes(model)


def save(model: ir.Model, wrapper: torch.nn.Module, out_dir: Path, stem: str, origin_of=lambda tensor: None) -> list[Path]:
    """Write `<stem>.onnx` (graph only) and return the external data files it references. `origin_of(tensor)`:
    where a weight's bytes lie in a model file (ModelFiles.origin_of), for a hard link instead of a copy."""
    tensors = {**dict(wrapper.named_parameters()), **dict(wrapper.named_buffers())}
    links: dict[Path, str] = {}
    own = _DataFile(out_dir / f"{stem}.data")
    for name, value in list(model.graph.initializers.items()):
        tensor = tensors.get(name)
        origin = origin_of(tensor) if tensor is not None else None
        location = _link(origin.path, out_dir, links) if origin is not None else None
        if location is not None:
            value.const_value = ir.ExternalTensor(location, origin.offset, origin.nbytes, value.dtype,
                                                  shape=value.shape, name=name, base_dir=str(out_dir))
        elif value.const_value is not None and value.const_value.nbytes > INLINE_BYTES:
            value.const_value = own.append(name, value.const_value, out_dir)
    own.close()
    portable_stack_traces(model)
    proto = ir.to_proto(model)
    onnx.save_model(proto, out_dir / f"{stem}.onnx")
    return [out_dir / name for name in links.values()] + ([own.path] if own.used else [])


def portable_stack_traces(model: ir.Model) -> None:
    """Rewrite the file of every frame in the nodes' stack traces: a path under site-packages keeps what follows
    it (`ltx_core/model/...`), one in ltx_trt's checkout becomes `ltx_trt/<path inside it>`, anything else its
    file name. The traces still say which code made a node; the ONNX no longer carries the build machine's
    folders (packs are shared) and is the same bytes from any checkout (export cache, reproducible packs)."""
    graphs = [model.graph, *model.functions.values()]
    for node in (n for g in graphs for n in ir.traversal.RecursiveGraphIterator(g)):
        trace = node.metadata_props.get(STACK_TRACE)
        if trace:
            node.metadata_props[STACK_TRACE] = _FRAME_FILE.sub(lambda m: f'File "{_portable(m.group(1))}"', trace)


def _portable(path: str) -> str:
    for marker in ("/site-packages/", "/dist-packages/"):
        if marker in path:
            return path.rsplit(marker, 1)[1]
    if Path(path).is_relative_to(SOURCE_ROOT):
        return "ltx_trt/" + Path(path).relative_to(SOURCE_ROOT).as_posix()
    return Path(path).name


def _link(source: Path, out_dir: Path, links: dict[Path, str]) -> str | None:
    """Hard-link a weight file next to the ONNX (same inode, no copy). None if it cannot be linked."""
    if source in links:
        return links[source]
    name = f"weights.{Path(source).name}"
    target = out_dir / name
    try:
        if target.exists() and not os.path.samefile(source, target):
            target.unlink()
        if not target.exists():
            os.link(source, target)
    except OSError:  # another filesystem: the caller writes the bytes into <stem>.data instead
        return None
    links[source] = name
    return name


class _DataFile:
    """Appends tensors to one external-data file, 64-byte aligned."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.used = False
        self._file = None
        self._offset = 0

    def append(self, name: str, tensor, out_dir: Path) -> ir.ExternalTensor:
        if self._file is None:
            self._file = self.path.open("wb")
        pad = -self._offset % 64
        self._file.write(b"\0" * pad)
        self._offset += pad
        data = tensor.tobytes()
        self._file.write(data)
        external = ir.ExternalTensor(self.path.name, self._offset, len(data), tensor.dtype, shape=tensor.shape,
                                     name=name, base_dir=str(out_dir))
        self._offset += len(data)
        self.used = True
        return external

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

