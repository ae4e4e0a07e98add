"""The pipelines `run` offers (ltx-pipelines 1.0.0's text-to-video pipelines), the LoRAs a run merges, and
which pipeline a checkpoint is for.

Pure Python: the names users pass, what each official pipeline is called, the LoRA request the weight
store merges (model/lora.py), and what a checkpoint's header and file name say it is (dev or distilled).
Defaults that ltx-pipelines defines (steps, guidance) are read from ltx-pipelines where they are used,
never copied here. Imports core.checkpoint and core.errors only.
"""

import re
from dataclasses import dataclass
from pathlib import Path

from ltx_trt.core.checkpoint import BLOCKS_PREFIX, Header
from ltx_trt.core.errors import UserError

# --pipeline NAME -> the ltx-pipelines class it matches
PIPELINES = {
    "distilled": "DistilledPipeline",
    "two-stage": "TI2VidTwoStagesPipeline",
    "hq": "TI2VidTwoStagesHQPipeline",
    "keyframes": "KeyframeInterpolationPipeline",  # two-stage with every --image appended as a keyframe
}
GUIDED = ("two-stage", "hq", "keyframes")  # stage 1 with the multi-modal guider, stage 2 with the distilled LoRA
DEV, DISTILLED = "dev", "distilled"  # what a checkpoint can be detected as
DISTILLED_LORA_FILE = "ltx-2.3-22b-distilled-lora-384.safetensors"  # the official stage-2 LoRA of the dev pipelines
FOR_KIND = {DEV: GUIDED, DISTILLED: ("distilled",)}  # the pipelines each kind of checkpoint is trained for


@dataclass(frozen=True)
class LoraSpec:
    """One LoRA to merge into the transformer's weights: W + strength * B @ A."""

    path: Path
    strength: float = 1.0


@dataclass(frozen=True)
class Detected:
    """What a checkpoint is: DEV, DISTILLED or None (nothing says), and the evidence, for the log."""

    kind: str | None
    why: str


def _words(text: str) -> set[str]:
    return set(re.split(r"[^a-z0-9]+", text.lower()))


def detect_checkpoint(path: Path, metadata: dict[str, str] | None = None) -> Detected:
    """Dev or distilled, from the header's `model_version` (a word such as "2.3.0-distilled"), else from the
    file name's words (ltx-2.3-22b-dev, ltx-2.3-22b-distilled-1.1, ..._fp8). The official LTX-2.3 files are
    not known to mark the variant in their metadata (`model_version` "2.3.x", an architecture `config`), so
    the name usually decides; a name or version with both words, or neither, is unknown."""
    name = Path(path).name
    version = (metadata or {}).get("model_version", "")
    for source, text in ((f"its model_version {version!r}", version), ("its file name", Path(path).stem)):
        found = sorted(_words(text) & set(FOR_KIND))
        if len(found) == 1:
            return Detected(found[0], f"{name} is a {found[0]} checkpoint, as {source} says")
    return Detected(None, f"neither the metadata nor the name of {name} says dev or distilled")


def detect_header(header: Header) -> Detected:
    return detect_checkpoint(header.path, header.metadata)


def choose_pipeline(asked: str | None, force: bool, detected: Detected) -> tuple[str, str]:
    """The pipeline to run and why (one log line's worth): the one asked for, else the one the checkpoint is
    trained for (two-stage for dev, distilled otherwise). A pipeline the checkpoint is known not to be trained
    for is refused unless forced."""
    if asked is not None and asked not in PIPELINES:
        raise UserError(f"unknown pipeline {asked!r}", f"use one of: {', '.join(PIPELINES)}")
    if force and asked is None:
        raise UserError("--force-pipeline without --pipeline", "pass --pipeline NAME with it, or drop --force-pipeline")
    if asked is None:
        if detected.kind is None:
            return "distilled", f"the default: {detected.why}"
        return FOR_KIND[detected.kind][0], f"{detected.why}; --pipeline picks another"
    fits = detected.kind is None or asked in FOR_KIND[detected.kind]
    if fits:
        return asked, "--pipeline"
    if force:
        return asked, f"--pipeline with --force-pipeline, although {detected.why}"
    others = " or ".join(f"--pipeline {p}" for p in FOR_KIND[detected.kind])
    raise UserError(f"--pipeline {asked} does not fit the checkpoint: {detected.why}",
                    f"use {others}, or add --force-pipeline to run it anyway")


def transformer_blocks(header: Header) -> int:
    """How many transformer blocks a checkpoint holds (the STG block indices run from 0 to this minus 1)."""
    found = {key[len(BLOCKS_PREFIX):].split(".", 1)[0] for key in header.tensors if key.startswith(BLOCKS_PREFIX)}
    return len({int(i) for i in found if i.isdigit()})
