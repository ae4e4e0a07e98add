"""The Gemma-3 text encoder: ltx-core's GemmaTextEncoder built from a Hugging Face Gemma-3 folder with its
weights memory-mapped, and synthetic folders in the same layout (the tiny model's, or a full-size 12B
stand-in for benchmarks) with seeded random weights streamed to disk one tensor at a time.

Imports torch, transformers, tokenizers and ltx-core; must not import export/ or build_engines/.
"""

import json
import shutil
from pathlib import Path

import torch

from ltx_trt.model.compat import install_torchaudio_placeholder
from ltx_trt.model.synthetic import write_safetensors
from ltx_trt.model.weights import MappedFile
from ltx_trt.runtime.errors import UserError

install_torchaudio_placeholder()

from ltx_core.text_encoders.gemma import (  # noqa: E402  (needs the placeholder first)
    GEMMA_LLM_KEY_OPS,
    GEMMA_MODEL_OPS,
    GemmaTextEncoder,
    module_ops_from_gemma_root,
)
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

# The synthetic tokenizer: Gemma's fixed ids first (image tokens at 5..7 instead of 255999.. so that they
# exist in a small vocabulary), then byte-fallback tokens, then BPE pieces learned from a fixed corpus.
_SPECIALS = ("<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_image>", "<end_of_image>",
             "<image_soft_token>")
PAD_ID, EOS_ID, BOS_ID = 0, 1, 2
BOI_ID, EOI_ID, IMAGE_ID = 5, 6, 7
TOKENIZER_VOCAB = 1024
_CORPUS_WORDS = (
    "the a an of in on with and while as camera slowly pans tilts zooms toward away from close wide shot "
    "angle static handheld drone aerial view cinematic soft warm cold golden blue red green light shadow "
    "morning evening night dawn dusk sunset rain snow fog wind storm sea ocean river forest mountain city "
    "street room hall kitchen window door car train bird dog cat horse fox woman man child old young she "
    "he they says whispers laughs sings shouts walks runs turns looks smiles hello there music plays drums "
    "piano guitar footsteps echo waves crash leaves rustle thunder rolls background quiet loud voice"
).split()


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
        nbytes = itemsize * int(torch.tensor(table[key][0]).prod())
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
    total = sum(itemsize * int(torch.tensor(shape).prod()) for shape, _ in table.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))


def _corpus(lines: int = 300) -> list[str]:
    """Fixed pseudo-random prompt-like sentences (a linear congruential sequence: no global RNG)."""
    out, state = [], 2024
    for _ in range(lines):
        words = []
        for _ in range(5 + state % 11):
            state = (state * 6364136223846793005 + 1442695040888963407) % 2**64
            words.append(_CORPUS_WORDS[(state >> 33) % len(_CORPUS_WORDS)])
        out.append(" ".join(words) + ".")
    return out


def build_tokenizer():
    """A Gemma-style BPE tokenizer (spaces as '▁', byte fallback, `<bos>` prepended) of TOKENIZER_VOCAB ids."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    fixed = list(_SPECIALS) + [f"<0x{i:02X}>" for i in range(256)]
    learner = Tokenizer(models.BPE(unk_token="<unk>"))
    learner.normalizer = normalizers.Replace(" ", "▁")
    learner.pre_tokenizer = pre_tokenizers.Split("▁", behavior="merged_with_next")  # merges stay inside words
    learner.train_from_iterator(_corpus(), trainers.BpeTrainer(
        vocab_size=TOKENIZER_VOCAB - len(fixed), show_progress=False))
    learned = json.loads(learner.to_str())["model"]
    vocab = {token: i for i, token in enumerate(fixed)}
    for token, _ in sorted(learned["vocab"].items(), key=lambda item: item[1]):
        vocab.setdefault(token, len(vocab))
    vocab |= {f"<unused{i}>": len(vocab) + i for i in range(TOKENIZER_VOCAB - len(vocab))}
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in learned["merges"]]
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", fuse_unk=True,
                                     byte_fallback=True))
    tokenizer.normalizer = normalizers.Replace(" ", "▁")
    tokenizer.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    tokenizer.add_special_tokens(list(_SPECIALS))
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A <bos> $B", special_tokens=[("<bos>", BOS_ID)])
    return tokenizer


def _write_tokenizer_files(folder: Path, image_size: int) -> None:
    build_tokenizer().save(str(folder / "tokenizer.json"))
    names = {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>"}
    image = {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"}
    added = {str(i): {"content": t, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False,
                      "special": True} for i, t in enumerate(_SPECIALS)}
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


def build_text_encoder(files, dtype: torch.dtype) -> GemmaTextEncoder:
    """ltx-core's GemmaTextEncoder from the Gemma folder's own config, weights assigned from the mapped files.

    Same steps as ltx-core's builder (meta model, GEMMA_LLM_KEY_OPS, GEMMA_MODEL_OPS, tokenizer load), but
    strict, with zero-copy weights, and without the image processor (prompt enhancement only; it needs
    torchvision).
    """
    folder = Path(files.source.gemma)
    encoder = _on_meta(folder, dtype)
    encoder.load_state_dict(gemma_state(folder, dtype, encoder), strict=True, assign=True)
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


def gemma_state(folder: Path, dtype: torch.dtype, encoder: torch.nn.Module | None = None) -> dict[str, torch.Tensor]:
    """module key -> tensor memory-mapped from the folder's shards (strict, see _state_from_files), for
    `encoder` as built on meta from the folder's config (before GEMMA_MODEL_OPS adds computed buffers)."""
    encoder = encoder if encoder is not None else _on_meta(Path(folder), dtype)
    return _state_from_files(encoder, [MappedFile(p) for p in _weight_files(Path(folder))], dtype)


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
