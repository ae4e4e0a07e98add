"""The embedded tiny model: a seeded LTX-2.3 checkpoint, x2 upsampler, distilled LoRA and Gemma-3 folder, made locally.

Same key layout and structural config as the 22B release, tiny widths and depths; nothing is ever
downloaded. Generated once into a folder (atomically: a `.partial` folder renamed when complete).
Imports torch, ltx-core, transformers/tokenizers; of ltx_trt, imports core only.
"""

import json
import shutil
from pathlib import Path

from ltx_trt.model import ltx23_config

TINY_GEMMA_HIDDEN, TINY_GEMMA_LAYERS = 64, 4
GENERATOR_VERSION = 2  # bump when the tiny model's contents change (2: the distilled LoRA)
SEED = 0
# the stage-2 LoRA of the dev pipelines, as ltx-2.3-22b-distilled-lora-384.safetensors: every transformer Linear
DISTILLED_LORA = "ltx-2.3-distilled-lora-tiny.safetensors"
DISTILLED_LORA_RANK = 8


def ensure_tiny_model(folder: Path, log=print) -> None:
    folder = Path(folder)
    stamp = folder / "tiny-model.json"
    if stamp.is_file() and json.loads(stamp.read_text()).get("generator_version") == GENERATOR_VERSION:
        return
    log(f"generating the embedded tiny model into {folder}")
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        write_tiny_model(partial)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    (partial / "tiny-model.json").write_text(json.dumps({"generator_version": GENERATOR_VERSION, "seed": SEED}))
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)


def write_tiny_model(folder: Path) -> None:
    from ltx_trt.model import synthetic
    from ltx_trt.model.gemma_synthetic import write_tiny_gemma

    synthetic.write_ltx_checkpoint(folder / "ltx-2.3-tiny.safetensors", ltx23_config.tiny_config(),
                                   TINY_GEMMA_HIDDEN, TINY_GEMMA_LAYERS, seed=SEED,
                                   model_version=ltx23_config.MODEL_VERSION)
    synthetic.write_upsampler_checkpoint(folder / "ltx-2.3-spatial-upscaler-x2-tiny.safetensors",
                                         ltx23_config.TINY_UPSAMPLER_CONFIG, seed=SEED)
    synthetic.write_lora(folder / DISTILLED_LORA, ltx23_config.tiny_config(), rank=DISTILLED_LORA_RANK, seed=SEED)
    write_tiny_gemma(folder / "gemma-3-tiny", seed=SEED)
