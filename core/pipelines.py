"""The pipelines `run` offers (ltx-pipelines 1.0.0's text-to-video pipelines) and the LoRAs a run merges.

Pure Python: the names users pass, what each official pipeline is called, and the LoRA request the
weight store merges (model/lora.py). Defaults that ltx-pipelines defines (steps, guidance) are read
from ltx-pipelines where they are used, never copied here.
"""

from dataclasses import dataclass
from pathlib import Path

# --pipeline NAME -> the ltx-pipelines class it matches
PIPELINES = {
    "distilled": "DistilledPipeline",
    "two-stage": "TI2VidTwoStagesPipeline",
    "hq": "TI2VidTwoStagesHQPipeline",
}
GUIDED = ("two-stage", "hq")  # stage 1 with the multi-modal guider, stage 2 with the distilled LoRA


@dataclass(frozen=True)
class LoraSpec:
    """One LoRA to merge into the transformer's weights: W + strength * B @ A."""

    path: Path
    strength: float = 1.0
