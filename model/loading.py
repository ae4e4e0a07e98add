"""Build ltx-core modules from a checkpoint config and load their weights strictly.

Each component is one torch module built on the meta device by ltx-core's own configurators, plus
a key map from the official single-file layout to the module's state_dict. Loading is strict, checked
from the headers before any tensor is read: a missing or unexpected key, a shape mismatch (no
broadcasting) or a dtype the loader does not take is an error naming the first few offenders.
Imports torch and ltx-core; of ltx_trt, imports core only.
"""

from dataclasses import dataclass

import torch

from ltx_trt.core.checkpoint import Header
from ltx_trt.core.compat import install_torchaudio_placeholder
from ltx_trt.core.dtypes import DTYPES, storage_shape
from ltx_trt.core.errors import UserError
from ltx_trt.core.precision import QUANTIZED_TENSORS, Quantization

install_torchaudio_placeholder()

_CONNECTOR_PREFIXES = ("model.diffusion_model.video_embeddings_connector.",
                       "model.diffusion_model.audio_embeddings_connector.")


@dataclass(frozen=True)
class KeyMap:
    """How a component's module keys are named in its weight file."""

    prefixes: tuple[tuple[str, str], ...]  # (file prefix, module prefix)
    excluded: tuple[str, ...] = ()  # file prefixes that look like ours but belong to another component
    unused: tuple[str, ...] = ()  # exact file keys known to be present and deliberately not loaded

    def module_key(self, file_key: str) -> str | None:
        if file_key in self.unused or file_key.startswith(self.excluded):
            return None
        for file_prefix, module_prefix in self.prefixes:
            if file_key.startswith(file_prefix):
                return module_prefix + file_key[len(file_prefix):]
        return None

    def file_key(self, module_key: str) -> str:
        for file_prefix, module_prefix in self.prefixes:
            if module_key.startswith(module_prefix):
                return file_prefix + module_key[len(module_prefix):]
        raise KeyError(module_key)


KEY_MAPS = {
    "transformer": KeyMap((("model.diffusion_model.", ""),), excluded=_CONNECTOR_PREFIXES),
    "connector": KeyMap((
        ("text_embedding_projection.", "feature_extractor."),
        (_CONNECTOR_PREFIXES[0], "video_connector."),
        (_CONNECTOR_PREFIXES[1], "audio_connector."),
    )),
    "video_decoder": KeyMap((("vae.per_channel_statistics.", "per_channel_statistics."), ("vae.decoder.", "")),
                            unused=("vae.per_channel_statistics.channel", "vae.per_channel_statistics.mean-of-stds")),
    "audio_decoder": KeyMap((("audio_vae.per_channel_statistics.", "decoder.per_channel_statistics."),
                             ("audio_vae.decoder.", "decoder."), ("vocoder.", "vocoder."))),
    "upsampler": KeyMap((("", ""),)),
}


def key_mapping(module: torch.nn.Module, header: Header, keymap: KeyMap,
                quantized: Quantization | None = None) -> dict[str, str]:
    """module key -> file key for every persistent tensor; strict (check_tensors): refuses missing, unexpected,
    misshapen and wrongly typed tensors, from the header alone.

    `quantized`: the file's quantized block Linears (core.checkpoint.stored_quantization); their scales are
    expected beside them, and their weights in the format's dtype and shape (the caller dequantizes them)."""
    found, companions = {}, quantized_keys(quantized)
    for file_key in header.tensors:
        module_key = keymap.module_key(file_key)
        if module_key is not None and module_key not in companions:
            found[module_key] = file_key
    formats = {weight: quantized.format for weight in companions.values()}
    hint = "the file does not match the LTX-2.3 layout its config describes; re-download it"
    check_tensors(module.state_dict(), {k: (header, v) for k, v in found.items()}, str(header.path),
                  type(module).__name__, hint, formats, keymap.file_key)
    return found


PLAIN_FLOATS = ("F32", "BF16", "F16")  # a floating tensor may be stored in any of these: converted on load


def stored_as(tensor: torch.Tensor, format: str | None = None) -> tuple[list[int], tuple[str, ...]]:
    """The shape and the safetensors dtypes a file may hold a module tensor in: a floating one in any plain float
    dtype, others in their own; a Linear weight quantized in `format` as that format stores it (packed 4-bit:
    uint8 with half the columns)."""
    if format is not None:
        _, name, shape = QUANTIZED_TENSORS[format](*tensor.shape)[0]
        return list(storage_shape(name, shape)), (DTYPES[DTYPES[name].storage or name].safetensors,)
    if tensor.dtype.is_floating_point:
        return list(tensor.shape), PLAIN_FLOATS
    return list(tensor.shape), (DTYPES[str(tensor.dtype).removeprefix("torch.")].safetensors,)


def check_tensors(expected: dict[str, torch.Tensor], found: dict[str, tuple[Header, str]], where: str, owner: str,
                  hint: str, formats: dict[str, str] | None = None, file_key=lambda key: key,
                  unexpected: tuple[str, ...] = ()) -> None:
    """Strict loading, from headers alone: every `expected` module tensor `found` (module key -> the header
    holding it and its key there) with its shape and a dtype the loader accepts (stored_as; `formats`: module
    key -> quantized format), and nothing else. Refuses the first kind of problem, naming the first four keys
    (file keys: `file_key` maps a module key to its name in the file)."""
    formats = formats or {}
    misshapen, mistyped = [], []
    for key, tensor in expected.items():
        if key not in found:
            continue
        header, name = found[key]
        info = header.tensors[name]
        shape, dtypes = stored_as(tensor, formats.get(key))
        if info["shape"] != shape:
            misshapen.append(f"{name} {info['shape']} vs {shape}")
        elif info["dtype"] not in dtypes:
            mistyped.append(f"{name} {info['dtype']} (not {' or '.join(dtypes)})")
    problems = (("missing", [file_key(k) for k in expected if k not in found]),
                ("unexpected", [*unexpected, *(found[k][1] for k in found if k not in expected)]),
                ("wrongly shaped", misshapen), ("wrongly typed", mistyped))
    for problem, keys in problems:
        if keys:
            shown = ", ".join(keys[:4]) + (f" and {len(keys) - 4} more" if len(keys) > 4 else "")
            raise UserError(f"{where}: {len(keys)} {problem} tensor(s) for {owner}: {shown}", hint)


def quantized_keys(quantized: Quantization | None) -> dict[str, str]:
    """A quantized file's companion tensors (scales), module key -> its Linear's weight key."""
    if quantized is None:
        return {}
    suffixes = [suffix for suffix, _, _ in QUANTIZED_TENSORS[quantized.format](1, 1) if suffix != "weight"]
    return {f"transformer_blocks.{block}.{linear}.{suffix}": f"transformer_blocks.{block}.{linear}.weight"
            for block in quantized.blocks for linear in quantized.linears for suffix in suffixes}
