"""The Gemma-3 text encoder: ltx-core's GemmaTextEncoder built from a Hugging Face Gemma-3 folder (its own
config, strictly mapped shards, weights memory-mapped), or as a skeleton whose parameters stay on meta.

The folder (config, tokenizer, shards and their headers, every tensor's name, shape and dtype) is checked
before any weight is read. Synthetic folders in the same layout are written by model/gemma_synthetic.py.
Imports torch, transformers and ltx-core; of ltx_trt, imports core, model.loading and model.weights.
"""

import json
from pathlib import Path

import torch

from ltx_trt.core.compat import install_torchaudio_placeholder
from ltx_trt.core.errors import UserError
from ltx_trt.model.loading import PLAIN_FLOATS, check_tensors
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


# The files of a Gemma-3 folder besides its weights, and what reads each: checked before anything is loaded.
FOLDER_FILES = {
    "config.json": "the architecture",
    "tokenizer_config.json": "the tokenizer (transformers' AutoTokenizer)",
    "tokenizer.json": "the tokenizer's vocabulary and merges",
    "tokenizer.model": "ltx-core finds the tokenizer's folder by it (export)",
    "preprocessor_config.json": "ltx-core finds the image processor's folder by it (export)",
}


def open_shards(folder: Path) -> list[MappedFile]:
    """The folder's weight shards, memory-mapped, after checking that the folder has its config and tokenizer
    files and every shard its index names (each header read and checked against its file's size)."""
    folder = Path(folder)
    absent = [name for name in FOLDER_FILES if not (folder / name).is_file()]
    if absent:
        raise UserError(f"{folder} is not a complete Gemma-3 folder: no {', '.join(absent)} "
                        f"({FOLDER_FILES[absent[0]]})", "pass the complete google/gemma-3-12b-it folder as --gemma")
    return [MappedFile(p) for p in _weight_files(folder)]


def check_folder(folder: Path, shards: list[MappedFile]) -> None:
    """Refuse, from the headers alone, shards (open_shards) that do not hold exactly the tensors the folder's
    config describes (names, shapes, dtypes), before any weight is read."""
    _sources(_on_meta(Path(folder), torch.bfloat16), shards)


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
        names = _indexed_shards(index)
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


def _indexed_shards(index: Path) -> list[str]:
    """The shard file names an index's weight_map names (plain names of files beside it)."""
    try:
        names = set(json.loads(index.read_text())["weight_map"].values())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as err:
        raise UserError(f"cannot read the weight_map of {index} ({type(err).__name__}: {err})",
                        "download the Gemma-3 folder again") from err
    odd = [name for name in names if not isinstance(name, str) or Path(name).name != name or name in ("", ".", "..")]
    if odd:
        raise UserError(f"{index} names shards that are not files beside it: {', '.join(map(str, odd[:4]))}",
                        "download the Gemma-3 folder again")
    return sorted(names)


def _sources(encoder: torch.nn.Module, shards: list[MappedFile]) -> dict[str, tuple[MappedFile, str]]:
    """module key -> (shard, file key), mapped by ltx-core's GEMMA_LLM_KEY_OPS; strict (loading.check_tensors):
    refuses missing, unexpected, misshapen and wrongly typed tensors."""
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
    hint = "the folder does not match its config.json; re-download google/gemma-3-12b-it"
    check_tensors(expected, {k: (m.header, fk) for k, (m, fk) in sources.items()}, str(shards[0].header.path.parent),
                  "Gemma-3", hint, unexpected=tuple(unexpected))
    return sources


def _state_from_files(encoder: torch.nn.Module, shards: list[MappedFile], dtype: torch.dtype) -> dict:
    """module key -> tensor, mapped and checked by _sources; floating tensors in `dtype`."""
    expected, sources = encoder.state_dict(), _sources(encoder, shards)
    loaded = {}
    for mapped, file_key in set(sources.values()):
        floating = mapped.header.tensors[file_key]["dtype"] in PLAIN_FLOATS
        loaded[mapped, file_key] = mapped.tensor(file_key, dtype if floating else None)
    return {k: loaded[source] for k, source in sources.items() if k in expected}
