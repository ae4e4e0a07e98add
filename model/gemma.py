"""The Gemma-3 text encoder: ltx-core's GemmaTextEncoder built from a Hugging Face Gemma-3 folder (its own
config, strictly mapped shards, weights memory-mapped), or as a skeleton whose parameters stay on meta.

Synthetic folders in the same layout are written by model/gemma_synthetic.py.
Imports torch, transformers, ltx-core and ltx_trt.core; of ltx_trt, imports core only.
"""

import json
from pathlib import Path

import torch

from ltx_trt.core.compat import install_torchaudio_placeholder
from ltx_trt.core.errors import UserError
from ltx_trt.model.weights import MappedFile

install_torchaudio_placeholder()

from ltx_core.text_encoders.gemma import (  # noqa: E402  (needs the placeholder first)
    GEMMA_LLM_KEY_OPS,
    GEMMA_MODEL_OPS,
    GemmaTextEncoder,
    module_ops_from_gemma_root,
)
from transformers import Gemma3Config, Gemma3ForConditionalGeneration  # noqa: E402


def build_text_encoder(files, dtype: torch.dtype) -> GemmaTextEncoder:
    """ltx-core's GemmaTextEncoder from the Gemma folder's own config, weights assigned from the mapped files.

    Same steps as ltx-core's builder (meta model, GEMMA_LLM_KEY_OPS, GEMMA_MODEL_OPS, tokenizer load), but
    strict, with zero-copy weights, and without the image processor (prompt enhancement only; it needs
    torchvision).
    """
    folder = Path(files.source.gemma)
    encoder = _on_meta(folder, dtype)
    encoder.load_state_dict(gemma_state(files.gemma_shards, folder, dtype, encoder), strict=True, assign=True)
    for op in (GEMMA_MODEL_OPS, *module_ops_from_gemma_root(str(folder))):
        if op.name != "ProcessorLoad" and op.matcher(encoder):
            encoder = op.mutator(encoder)
    leftovers = [name for name, t in list(encoder.named_parameters()) + list(encoder.named_buffers()) if t.is_meta]
    if leftovers:
        raise RuntimeError(f"GemmaTextEncoder: tensors neither in the files nor computed: {leftovers[:4]}")
    return encoder.eval().requires_grad_(False)


def text_encoder_skeleton(folder: Path | dict, dtype: torch.dtype) -> GemmaTextEncoder:
    """The GemmaTextEncoder of a folder (or of a config.json dict) with every parameter on meta and its
    computed buffers (RoPE frequencies, embedding scale) real: enough to run the layer-chained parts,
    whose weights are inputs."""
    return GEMMA_MODEL_OPS.mutator(_on_meta(folder, dtype)).eval()


def open_shards(folder: Path) -> list[MappedFile]:
    """The folder's weight shards, memory-mapped (refused when the index names a missing shard)."""
    return [MappedFile(p) for p in _weight_files(Path(folder))]


def gemma_state(shards: list[MappedFile], folder: Path, dtype: torch.dtype,
                encoder: torch.nn.Module | None = None) -> dict[str, torch.Tensor]:
    """module key -> tensor memory-mapped from the folder's shards (strict, see _state_from_files), for
    `encoder` as built on meta from the folder's config (before GEMMA_MODEL_OPS adds computed buffers)."""
    encoder = encoder if encoder is not None else _on_meta(Path(folder), dtype)
    return _state_from_files(encoder, shards, dtype)


def _on_meta(folder: Path | dict, dtype: torch.dtype) -> GemmaTextEncoder:
    config = Gemma3Config.from_dict(folder) if isinstance(folder, dict) else _read_config(Path(folder))
    with torch.device("meta"):
        return GemmaTextEncoder(model=Gemma3ForConditionalGeneration(config), dtype=dtype)


def _read_config(folder: Path) -> Gemma3Config:
    path = folder / "config.json"
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise UserError(f"cannot read {path} ({err})", "pass --gemma DIR, a Gemma-3 folder in HF layout") from err
    if config.get("model_type") != "gemma3":
        raise UserError(f"{path} describes a {config.get('model_type')!r} model, not Gemma-3 (gemma3)",
                        "pass the google/gemma-3-12b-it folder (with vision tower) as --gemma")
    return Gemma3Config.from_dict(config)


def _weight_files(folder: Path) -> list[Path]:
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        names = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    elif (folder / "model.safetensors").is_file():
        names = ["model.safetensors"]
    else:
        raise UserError(f"no model.safetensors or model.safetensors.index.json in {folder}",
                        "pass the complete Gemma-3 folder (download every model-*.safetensors shard)")
    absent = [name for name in names if not (folder / name).is_file()]
    if absent:
        raise UserError(f"{folder}: weight shard(s) missing: {', '.join(absent[:4])}",
                        "download the missing shards of the Gemma-3 folder")
    return [folder / name for name in names]


def _state_from_files(encoder: torch.nn.Module, shards: list[MappedFile], dtype: torch.dtype) -> dict:
    """module key -> tensor, mapped by ltx-core's GEMMA_LLM_KEY_OPS; refuses missing/unexpected/misshapen."""
    expected = encoder.state_dict()
    sources, unexpected = {}, []
    for mapped in shards:
        for file_key in mapped.header.tensors:
            module_key = GEMMA_LLM_KEY_OPS.apply_to_key(file_key)
            if module_key is None:
                unexpected.append(file_key)
                continue
            # The key ops' value operation only forwards its value: pass where the tensor is, not the tensor.
            for key, source in GEMMA_LLM_KEY_OPS.apply_to_key_value(module_key, (mapped, file_key)):
                sources[key] = source
    unexpected += [sources[k][1] for k in sources if k not in expected]
    missing = [k for k in expected if k not in sources]
    misshapen = [f"{fk} {m.header.tensors[fk]['shape']} vs {list(expected[k].shape)}"
                 for k, (m, fk) in sources.items()
                 if k in expected and m.header.tensors[fk]["shape"] != list(expected[k].shape)]
    for problem, keys in (("missing", missing), ("unexpected", unexpected), ("wrongly shaped", misshapen)):
        if keys:
            shown = ", ".join(keys[:4]) + (f" and {len(keys) - 4} more" if len(keys) > 4 else "")
            raise UserError(f"{shards[0].header.path.parent}: {len(keys)} {problem} tensor(s) for Gemma-3: {shown}",
                            "the folder does not match its config.json; re-download google/gemma-3-12b-it")
    loaded = {}
    for mapped, file_key in set(sources.values()):
        floating = mapped.header.tensors[file_key]["dtype"] in ("F32", "BF16", "F16")
        loaded[mapped, file_key] = mapped.tensor(file_key, dtype if floating else None)
    return {k: loaded[source] for k, source in sources.items() if k in expected}
