"""Synthetic Gemma-3 folders in google/gemma-3-12b-it's layout: the tiny model's (seeded, byte for byte
reproducible) and a full-size 12B stand-in for benchmarks, random weights streamed to disk one tensor at
a time, with an offline tokenizer (model/gemma_tokenizer.py). Test and tiny-model tooling.
Imports torch, transformers, ltx-core; of ltx_trt, imports core only.
"""

import json
import math
import shutil
from pathlib import Path

import torch

from ltx_trt.core.compat import install_torchaudio_placeholder
from ltx_trt.model.gemma_tokenizer import BOI_ID, BOS_ID, EOI_ID, EOS_ID, IMAGE_ID, PAD_ID, SPECIALS, build_tokenizer
from ltx_trt.model.synthetic import write_safetensors

install_torchaudio_placeholder()

from ltx_core.text_encoders.gemma import GemmaTextEncoder  # noqa: E402  (needs the placeholder first)
from ltx_core.text_encoders.gemma.config import GEMMA3_CONFIG_FOR_LTX  # noqa: E402
from transformers import Gemma3Config, Gemma3ForConditionalGeneration  # noqa: E402

# The tiny text config; hidden 64 x (4 layers + embeddings) is what the tiny LTX checkpoint projects from.
# Everything structural stays as in the 12B: GQA, query_pre_attn_scalar, sliding/full layer pattern,
# linear RoPE scaling with a separate local base (old-style keys, as the real config.json has them).
TINY_TEXT_CONFIG = {
    "model_type": "gemma3_text", "hidden_size": 64, "num_hidden_layers": 4, "intermediate_size": 128,
    "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 32, "query_pre_attn_scalar": 32,
    "sliding_window": 8, "sliding_window_pattern": 2, "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
    "rope_local_base_freq": 10000.0, "rope_theta": 1000000.0, "rms_norm_eps": 1e-6,
    "hidden_activation": "gelu_pytorch_tanh", "max_position_embeddings": 4096, "vocab_size": 1024,
    "attention_bias": False, "attn_logit_softcapping": None, "final_logit_softcapping": None,
}
# (SigLIP config, image tokens per image): never run for text encoding, but in the folder and the module.
TINY_VISION = ({"model_type": "siglip_vision_model", "hidden_size": 32, "intermediate_size": 64,
                "num_hidden_layers": 1, "num_attention_heads": 2, "image_size": 28, "patch_size": 14,
                "num_channels": 3, "vision_use_head": False, "hidden_act": "gelu_pytorch_tanh",
                "layer_norm_eps": 1e-6}, 4)
FULL_VISION = (GEMMA3_CONFIG_FOR_LTX.to_dict()["vision_config"], GEMMA3_CONFIG_FOR_LTX.mm_tokens_per_image)

# google/gemma-3 checkpoint prefixes -> GemmaTextEncoder prefixes: the inverse of GEMMA_LLM_KEY_OPS,
# which also fills `model.lm_head.weight` from the embedding (the file has no lm_head).
_FILE_PREFIXES = (("language_model.model.", "model.model.language_model."),
                  ("vision_tower.", "model.model.vision_tower."),
                  ("multi_modal_projector.", "model.model.multi_modal_projector."))
SHARD_BYTES = 5 * 10**9  # like the official shards


def full_text_config() -> dict:
    """Gemma-3-12B's text config as ltx-core pins it (48 layers, hidden 3840, vocab 262208)."""
    return GEMMA3_CONFIG_FOR_LTX.to_dict()["text_config"]


def write_tiny_gemma(folder: Path, seed: int = 0) -> None:
    """The tiny model's Gemma-3 folder: deterministic for a seed, byte for byte."""
    write_synthetic_gemma(folder, TINY_TEXT_CONFIG, seed, vision=TINY_VISION)


def write_synthetic_gemma(folder: Path, config: dict, seed: int = 0, *, vision: tuple = FULL_VISION,
                          dtype: torch.dtype = torch.bfloat16, shard_bytes: int = SHARD_BYTES) -> None:
    """A Gemma-3 folder in google/gemma-3-12b-it's layout for text config `config`, random weights.

    Weights are generated and written one tensor at a time (a full-size folder never sits in RAM),
    sharded with an index when over `shard_bytes`. Written into `<folder>.partial`, renamed when complete
    (an existing `folder` is replaced).
    """
    folder = Path(folder)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    gemma3 = gemma3_config(config, vision)
    (partial / "config.json").write_text(json.dumps(gemma3, indent=2))
    (partial / "generation_config.json").write_text(json.dumps(
        {"bos_token_id": BOS_ID, "eos_token_id": [EOS_ID], "pad_token_id": PAD_ID}, indent=2))
    _write_weights(partial, gemma_tensor_table(gemma3), dtype, seed, shard_bytes)
    _write_tokenizer_files(partial, image_size=gemma3["vision_config"]["image_size"])
    if folder.exists():
        shutil.rmtree(folder)
    partial.rename(folder)


def gemma3_config(text_config: dict, vision: tuple) -> dict:
    """config.json of a Gemma3ForConditionalGeneration with this text config and (vision config, image tokens)."""
    vision_config, mm_tokens_per_image = vision
    return {
        "architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
        "boi_token_index": BOI_ID, "eoi_token_index": EOI_ID, "image_token_index": IMAGE_ID,
        "bos_token_id": BOS_ID, "eos_token_id": [EOS_ID], "pad_token_id": PAD_ID,
        "mm_tokens_per_image": mm_tokens_per_image, "initializer_range": 0.02, "torch_dtype": "bfloat16",
        "text_config": text_config, "vision_config": vision_config,
    }


def gemma_tensor_table(gemma3_config: dict) -> dict[str, tuple]:
    """file key -> (shape, module key) for every tensor of a google/gemma-3 checkpoint with this config."""
    with torch.device("meta"):
        encoder = GemmaTextEncoder(model=Gemma3ForConditionalGeneration(Gemma3Config.from_dict(gemma3_config)))
    table = {}
    for module_key, tensor in encoder.state_dict().items():
        for file_prefix, module_prefix in _FILE_PREFIXES:
            if module_key.startswith(module_prefix):
                table[file_prefix + module_key[len(module_prefix):]] = (tuple(tensor.shape), module_key)
    return table


def _write_weights(folder: Path, table: dict, dtype: torch.dtype, seed: int, shard_bytes: int) -> None:
    itemsize = torch.tensor([], dtype=dtype).element_size()
    shards, size = [{}], 0
    for key in sorted(table):
        nbytes = itemsize * math.prod(table[key][0])
        if size and size + nbytes > shard_bytes:
            shards, size = shards + [{}], 0
        shards[-1][key] = table[key]
        size += nbytes
    if len(shards) == 1:
        write_safetensors(folder / "model.safetensors", table, {"format": "pt"}, dtype, seed)
        return
    weight_map = {}
    for i, shard in enumerate(shards):
        name = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        write_safetensors(folder / name, shard, {"format": "pt"}, dtype, seed)
        weight_map |= dict.fromkeys(shard, name)
    total = sum(itemsize * math.prod(shape) for shape, _ in table.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))


def _write_tokenizer_files(folder: Path, image_size: int) -> None:
    build_tokenizer().save(str(folder / "tokenizer.json"))
    names = {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>"}
    image = {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"}
    added = {str(i): {"content": t, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False,
                      "special": True} for i, t in enumerate(SPECIALS)}
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "GemmaTokenizer", "add_bos_token": True, "add_eos_token": False, **names,
        "mask_token": "<mask>", **image, "extra_special_tokens": image, "added_tokens_decoder": added,
        "padding_side": "left", "clean_up_tokenization_spaces": False, "spaces_between_special_tokens": False,
    }, indent=2))
    (folder / "special_tokens_map.json").write_text(json.dumps({**names, **image}, indent=2))
    # ltx-core's module_ops_from_gemma_root finds the tokenizer folder by `tokenizer.model` and the image
    # processor's by `preprocessor_config.json`; transformers loads tokenizer.json, so the former is empty.
    (folder / "tokenizer.model").write_bytes(b"")
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "image_processor_type": "Gemma3ImageProcessor", "processor_class": "Gemma3Processor",
        "size": {"height": image_size, "width": image_size}, "do_resize": True, "resample": 2,
        "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
    }, indent=2))
