"""Write full-size synthetic LTX-2.3 files (real config and key layout, seeded random bf16 weights).

    python benchmarks/make_synthetic.py DIR [--gemma] [--gemma-folder PATH]

DIR gets ltx-2.3-22b-synthetic.safetensors (~46 GB), ltx-2.3-spatial-upscaler-x2-synthetic.safetensors
(~1 GB) and gemma-3-12b-synthetic/ (config.json always; ~24 GB of weights with --gemma), or --gemma-folder
(e.g. on /dev/shm when the disk holds only the checkpoint). Tensors are
generated and written one at a time, so RAM stays small. Prints wall time per file.
"""

import argparse
import json
import time
from pathlib import Path

from ltx_trt.model import ltx23_config, synthetic

# google/gemma-3-12b text config (the fields ltx-core and transformers read), as in ltx-core's config.py.
GEMMA_12B_TEXT = {"hidden_size": 3840, "num_hidden_layers": 48}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--gemma", action="store_true", help="also write the 12B Gemma weights (~24 GB)")
    parser.add_argument("--gemma-folder", type=Path, default=None, help="where the Gemma folder goes (default: in DIR)")
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    checkpoint = args.folder / "ltx-2.3-22b-synthetic.safetensors"
    if not checkpoint.exists():
        t0 = time.perf_counter()
        synthetic.write_ltx_checkpoint(checkpoint, ltx23_config.full_config(), GEMMA_12B_TEXT["hidden_size"],
                                       GEMMA_12B_TEXT["num_hidden_layers"], model_version=ltx23_config.MODEL_VERSION,
                                       progress=_progress)
        print(f"\n{checkpoint.name}: {checkpoint.stat().st_size / 1e9:.2f} GB in {time.perf_counter() - t0:.0f} s")
    upsampler = args.folder / "ltx-2.3-spatial-upscaler-x2-synthetic.safetensors"
    if not upsampler.exists():
        t0 = time.perf_counter()
        synthetic.write_upsampler_checkpoint(upsampler, ltx23_config.FULL_UPSAMPLER_CONFIG)
        print(f"{upsampler.name}: {upsampler.stat().st_size / 1e9:.2f} GB in {time.perf_counter() - t0:.0f} s")
    gemma = args.gemma_folder or args.folder / "gemma-3-12b-synthetic"
    if args.gemma and not (gemma / "model.safetensors.index.json").exists():
        from ltx_trt.model.gemma_synthetic import full_text_config, write_synthetic_gemma

        t0 = time.perf_counter()
        write_synthetic_gemma(gemma, full_text_config(), seed=0)
        print(f"{gemma.name}: written in {time.perf_counter() - t0:.0f} s")
    elif not gemma.exists():
        gemma.mkdir()
        (gemma / "config.json").write_text(json.dumps({"text_config": GEMMA_12B_TEXT}))


def _progress(done: int, total: int, key: str) -> None:
    if done % 200 == 0 or done == total:
        print(f"\r  {done}/{total} tensors", end="", flush=True)


if __name__ == "__main__":
    main()
