"""Calibration records: the activation maxima that static FP8 (and NVFP4) input scales come from.

`ltx-trt calibrate` runs the bf16 pipeline on a few prompts and records, for every Linear of every
transformer block, the largest |x| it saw at its input over every denoising step of both stages and
every bucket (docs/DESIGN.md "Calibration"). They are stored per model, beside its artifacts, as
safetensors (`transformer_blocks.<i>.<linear>.input_amax`, float32 scalars) with a manifest that names
the checkpoint, the prompts, the seed, the buckets and the method; never pickled. Pure Python.
"""

from pathlib import Path

from ltx_trt.core.errors import UserError
from ltx_trt.core.manifest import MANIFEST_NAME, read_manifest
from ltx_trt.core.trust import Verifier

FILE = "transformer_input_amax.safetensors"
METHOD = "max |x| at each block Linear's input (forward pre-hooks), every step of both stages, bf16 torch executor"
FORMATS_WITH_INPUT_SCALES = ("fp8", "nvfp4")  # static activation scales; int4 is weight-only


def calibration_dir(artifacts: Path, model_id: str) -> Path:
    return Path(artifacts) / model_id / "calibration"


def amax_key(block: int, linear: str) -> str:
    return f"transformer_blocks.{block}.{linear}.input_amax"


def check_calibration(folder: Path, fingerprint: str, fix: str) -> Path:
    """The calibration file of `folder`, refused unless it was made from the checkpoint `fingerprint`."""
    manifest = read_manifest(folder / MANIFEST_NAME, fix) if (folder / MANIFEST_NAME).is_file() else None
    if manifest is None:
        raise UserError(f"no calibration in {folder}: a bf16 checkpoint needs activation scales for FP8",
                        f"run: {fix}")
    if manifest.get("checkpoint", {}).get("fingerprint") != fingerprint:
        raise UserError(f"the calibration in {folder} was made from another checkpoint", f"run: {fix}")
    if manifest.get("file") != FILE or not (folder / FILE).is_file():
        raise UserError(f"the calibration in {folder} lacks {FILE}", f"run: {fix}")
    verifier = Verifier(folder)
    path = verifier.verify(FILE, manifest.get("sha256"), f"the calibration manifest of {folder}", fix)
    verifier.save()
    return path
