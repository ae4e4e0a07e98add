"""Synthetic checkpoints: the real key layout and config with seeded random weights.

The same code writes the embedded tiny model and the full-size 22B stand-in: the tensor table comes
from ltx-core modules built on the meta device, and tensors are generated and written one at a time
(a streaming safetensors writer), so a 46 GB file never sits in RAM.
Imports torch and ltx-core; of ltx_trt, imports core only.
"""

import json
import math
import struct
import zlib
from pathlib import Path

import torch

from ltx_trt.model import components
from ltx_trt.model.loading import KEY_MAPS

_ST_DTYPES = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16", torch.int64: "I64"}


def ltx_tensor_table(config: dict, gemma_hidden: int, gemma_layers: int) -> dict[str, tuple]:
    """file key -> (shape, module key) for every tensor of the official LTX-2.3 single file."""
    with torch.device("meta"):
        modules = {
            "transformer": (components.transformer(config), KEY_MAPS["transformer"]),
            "connector": (components.connector(config, gemma_hidden, gemma_layers), KEY_MAPS["connector"]),
            "video_decoder": (components.video_decoder(config), KEY_MAPS["video_decoder"]),
            "audio_decoder": (components.audio_decoder(config), KEY_MAPS["audio_decoder"]),
            "video_encoder": (components.video_encoder(config), components.ENCODER_KEY_MAPS["video_encoder"]),
            "audio_encoder": (components.audio_encoder(config), components.ENCODER_KEY_MAPS["audio_encoder"]),
        }
    table = {}
    for module, keymap in modules.values():
        for module_key, tensor in module.state_dict().items():
            table[keymap.file_key(module_key)] = (tuple(tensor.shape), module_key)
    return table


def module_tensor_table(module: torch.nn.Module) -> dict[str, tuple]:
    return {key: (tuple(t.shape), key) for key, t in module.state_dict().items()}


def random_tensor(key: str, shape: tuple, seed: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """A deterministic float32 tensor for `key`, scaled so activations of a random model stay O(1).

    Drawn on `device` by a generator of that device (CUDA draws other values than the CPU)."""
    generator = torch.Generator(device).manual_seed(seed * 1_000_003 + zlib.crc32(key.encode()))
    if len(shape) == 0:
        return torch.ones((), device=device)
    if key.endswith(("std-of-means", "mean-of-stds")):
        return torch.rand(shape, generator=generator, device=device) + 0.5  # a positive spread
    values = torch.randn(shape, generator=generator, device=device)
    if key.endswith("mel_basis"):  # a filterbank is non-negative; random signs put mels at the log floor
        return values.abs()
    if key.startswith("vocoder.") and (".convs" in key or ".conv_post." in key) and key.endswith(".weight"):
        # small residual/output convolutions, as in a trained vocoder; else activations reach 1e4 and
        # the waveform is clipped to +-1 almost everywhere
        return 0.1 * values / max(1, math.prod(shape[1:])) ** 0.5
    last = key.rsplit(".", 1)[-1]
    if len(shape) == 1 and last == "weight":  # norm weights: near one
        return 1.0 + 0.1 * values
    if len(shape) == 1:  # biases, statistics, per-channel parameters
        return 0.02 * values
    fan_in = max(1, math.prod(shape[1:]))
    return values / fan_in**0.5


def write_safetensors(path: Path, table: dict[str, tuple], metadata: dict, dtype: torch.dtype, seed: int,
                      progress=None, generate=random_tensor) -> None:
    """Write `table` (key -> (shape, ...)) as a safetensors file, generating one tensor at a time
    (`generate(key, shape, seed)`, float32)."""
    keys = sorted(table)
    itemsize = torch.tensor([], dtype=dtype).element_size()
    header, offset = {"__metadata__": metadata}, 0
    for key in keys:
        nbytes = itemsize * math.prod(table[key][0])
        header[key] = {"dtype": _ST_DTYPES[dtype], "shape": list(table[key][0]), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the data section starts 8-byte aligned
    tmp = Path(path).with_name(Path(path).name + ".partial")
    with tmp.open("wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        for i, key in enumerate(keys):
            tensor = generate(key, table[key][0], seed).to(dtype).contiguous()
            f.write(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
            if progress:
                progress(i + 1, len(keys), key)
    tmp.replace(path)


def write_ltx_checkpoint(path: Path, config: dict, gemma_hidden: int, gemma_layers: int, *,
                         dtype: torch.dtype = torch.bfloat16, seed: int = 0, model_version: str, progress=None):
    table = ltx_tensor_table(config, gemma_hidden, gemma_layers)
    metadata = {"config": json.dumps(config), "model_version": model_version}
    write_safetensors(path, table, metadata, dtype, seed, progress)


def write_upsampler_checkpoint(path: Path, upsampler_config: dict, *, dtype: torch.dtype = torch.bfloat16,
                               seed: int = 0) -> None:
    with torch.device("meta"):
        module = components.upsampler(upsampler_config)
    write_safetensors(path, module_tensor_table(module), {"config": json.dumps(upsampler_config)}, dtype, seed)


def write_official(source: Path, path: Path, format: str, blocks: tuple[int, ...], plain: tuple[str, ...] = (),
                   input_amax: float = 4.0) -> None:
    """A copy of a (tiny) bf16 checkpoint in the layout of the official pre-quantized LTX-2.3 files: every
    Linear of `blocks` but those named in `plain` quantized, with its scales (input scales from
    `input_amax`); biases and everything else as stored. FP8: F8_E4M3 `[out, in]` codes, F32 0-d
    `weight_scale` and `input_scale`. NVFP4: U8 `[out, in/2]` codes high nibble first, F8_E4M3 block scales
    in cuBLAS's tiled layout, F32 0-d `weight_scale_2` and `input_scale`. Holds the whole file in memory:
    tests only."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    prefix = "model.diffusion_model.transformer_blocks."
    with safe_open(str(source), "pt") as f:
        metadata, tensors = f.metadata(), {key: f.get_tensor(key) for key in f.keys()}
    for key in list(tensors):
        index, _, rest = key.removeprefix(prefix).partition(".")
        if (key.startswith(prefix) and int(index) in blocks and key.endswith(".weight") and tensors[key].ndim == 2
                and rest.removesuffix(".weight") not in plain):
            tensors.update({f"{key.removesuffix('weight')}{suffix}": tensor
                            for suffix, tensor in _official_tensors(format, tensors[key], input_amax).items()})
    save_file(tensors, str(path), metadata)


def _official_tensors(format: str, weight: torch.Tensor, input_amax: float) -> dict[str, torch.Tensor]:
    from ltx_trt.model import quantize

    if format == "fp8":
        codes, scale = quantize.quantize_fp8(weight)
        return {"weight": codes, "weight_scale": scale, "input_scale": torch.tensor(input_amax / quantize.FP8_MAX)}
    packed, scale, global_scale = quantize.quantize_nvfp4(weight)
    return {"weight": quantize.swap_nibbles(packed), "weight_scale": quantize.tile_scales(scale),
            "weight_scale_2": global_scale, "input_scale": torch.tensor(input_amax / quantize.NVFP4_GLOBAL)}


# The official LoRAs name a pair `diffusion_model.<module>.lora_A.weight` / `.lora_B.weight` (ComfyUI's naming, which
# ltx-trainer writes too); ltx-core's LTXV_LORA_COMFY_RENAMING_MAP drops the prefix, so bare `<module>.lora_A.weight`
# keys load as well. No alpha tensors: the delta is B @ A, times the strength.
OFFICIAL_LORA_PREFIX = "diffusion_model."
LORA_B_SCALE = 0.2  # a delta of about a fifth of a random weight: visible in the outputs, the model stays O(1)


def lora_tensor_table(config: dict, rank: int, prefix: str = OFFICIAL_LORA_PREFIX) -> dict[str, tuple]:
    """file key -> (shape, target module key) of a LoRA on every Linear of the transformer, as the official
    distilled LoRA (ltx-2.3-22b-distilled-lora-384: 1660 pairs = 48 blocks x 34 + 28 outside the blocks, rank
    min(384, out, in)): A `[min(rank, out, in), in]`, B `[out, min(rank, out, in)]`."""
    with torch.device("meta"):
        model = components.transformer(config)
    table = {}
    for name, param in model.named_parameters():
        if not name.endswith(".weight") or param.ndim != 2:
            continue
        out, inner = param.shape
        low = min(rank, out, inner)
        module = name.removesuffix(".weight")
        table[f"{prefix}{module}.lora_A.weight"] = ((low, inner), name)
        table[f"{prefix}{module}.lora_B.weight"] = ((out, low), name)
    return table


def lora_tensor(key: str, shape: tuple, seed: int) -> torch.Tensor:
    """A LoRA factor: A like a random weight (~1/sqrt(in)), B smaller (LORA_B_SCALE / sqrt(rank))."""
    values = random_tensor(key, shape, seed)
    return values * LORA_B_SCALE if key.endswith(".lora_B.weight") else values


def write_lora(path: Path, config: dict, *, rank: int, seed: int, prefix: str = OFFICIAL_LORA_PREFIX,
               dtype: torch.dtype = torch.bfloat16) -> None:
    """A seeded LoRA for the transformer `config` describes, one tensor generated and written at a time:
    official key naming by default; `prefix=""` gives the bare ltx-core module names ltx-core also reads."""
    table = lora_tensor_table(config, rank, prefix)
    write_safetensors(path, table, {"rank": str(rank)}, dtype, seed, generate=lora_tensor)
