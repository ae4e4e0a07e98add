"""The files of an architecture without its weights: what `export --architecture NAME` exports from.

`ArchitectureFiles` answers what export asks of ModelFiles (configs, dims, skeletons) from the configs
alone: the LTX-2.3 config, the x2 upsampler config and Gemma-3's config (written as config.json into a
folder, as a Gemma folder holds it). No checkpoint and no Gemma weights: every component is built on
the meta device and every graph takes its weights as inputs. Imports torch; of ltx_trt, core and model.
"""

import json
from functools import cached_property
from pathlib import Path

from ltx_trt.core.architecture import check_name
from ltx_trt.core.source import ModelSource
from ltx_trt.model import gemma_synthetic, ltx23_config
from ltx_trt.model.files import ModelFiles


def _configs(name: str) -> tuple[dict, dict, dict]:
    """(LTX config, upsampler config, Gemma-3 config.json) of a known architecture."""
    g = gemma_synthetic
    table = {
        "ltx-2.3-22b": lambda: (ltx23_config.full_config(), ltx23_config.FULL_UPSAMPLER_CONFIG,
                                g.gemma3_config(g.full_text_config(), g.FULL_VISION)),
        "ltx-2.3-tiny": lambda: (ltx23_config.tiny_config(), ltx23_config.TINY_UPSAMPLER_CONFIG,
                                 g.gemma3_config(g.TINY_TEXT_CONFIG, g.TINY_VISION)),
    }
    return table[check_name(name)]()


class ArchitectureFiles(ModelFiles):
    """ModelFiles without files: configs and dims for export; skeletons stand in for built components."""

    weightless = True  # export builds skeletons and writes no reference outputs

    def __init__(self, name: str, folder: Path) -> None:
        config, upsampler, gemma = _configs(name)
        (Path(folder) / "gemma").mkdir(parents=True, exist_ok=True)
        (Path(folder) / "gemma" / "config.json").write_text(json.dumps(gemma, indent=1, sort_keys=True))
        self.source = ModelSource(name, Path(folder) / "no-checkpoint", Path(folder) / "gemma",
                                  Path(folder) / "no-upsampler")
        self.config, self.checkpoint = json.loads(json.dumps(config)), None  # as a header's JSON reads
        self.__dict__["upsampler_config"] = json.loads(json.dumps(upsampler))
        self.__dict__["stored_quantization"] = None

    def has_upsampler(self) -> bool:
        return True

    def origin_of(self, tensor) -> None:
        return None  # no weight is a view of a file

    @cached_property
    def gemma_shards(self) -> list:
        return []
