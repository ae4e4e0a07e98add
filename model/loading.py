"""Build ltx-core modules from a checkpoint config and load their weights strictly.

Each component is one torch module built on the meta device by ltx-core's own configurators, plus
a key map from the official single-file layout to the module's state_dict. Loading is strict: a
missing or unexpected key, or a shape mismatch, is an error naming the first few offenders.
Imports torch and ltx-core; of ltx_trt, imports core only.
"""

from dataclasses import dataclass

import torch

from ltx_trt.core.checkpoint import Header
from ltx_trt.core.compat import install_torchaudio_placeholder
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
    """module key -> file key for every persistent tensor; strict: refuses missing/unexpected/misshapen.

    `quantized`: the file's quantized block Linears (core.checkpoint.stored_quantization); their scales are
    expected beside them, and their weights have the format's shape (the caller dequantizes them)."""
    expected = module.state_dict()
    found, companions = {}, quantized_keys(quantized)
    for file_key in header.tensors:
        module_key = keymap.module_key(file_key)
        if module_key is not None and module_key not in companions:
            found[module_key] = file_key
    missing = [k for k in expected if k not in found]
    unexpected = [found[k] for k in found if k not in expected]
    misshapen = [f"{found[k]} {header.tensors[found[k]]['shape']} vs {list(v.shape)}" for k, v in expected.items()
                 if k in found and k not in companions.values() and list(v.shape) != header.tensors[found[k]]["shape"]]
    for problem, keys in (("missing", missing), ("unexpected", unexpected), ("wrongly shaped", misshapen)):
        if keys:
            shown = ", ".join(keys[:4]) + (f" and {len(keys) - 4} more" if len(keys) > 4 else "")
            raise UserError(f"{header.path}: {len(keys)} {problem} tensor(s) for {type(module).__name__}: {shown}",
                            "the file does not match the LTX-2.3 layout its config describes; re-download it")
    return found



def quantized_keys(quantized: Quantization | None) -> dict[str, str]:
    """A quantized file's companion tensors (scales), module key -> its Linear's weight key."""
    if quantized is None:
        return {}
    suffixes = [suffix for suffix, _, _ in QUANTIZED_TENSORS[quantized.format](1, 1) if suffix != "weight"]
    return {f"transformer_blocks.{block}.{linear}.{suffix}": f"transformer_blocks.{block}.{linear}.weight"
            for block in quantized.blocks for linear in quantized.linears for suffix in suffixes}
