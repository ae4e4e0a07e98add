"""The opened weight files of one model: checkpoint, upsampler and Gemma folder, memory-mapped.

Also the model dims (core/shapes.py ModelDims) read from their configs. Imports torch.
"""

import dataclasses
import json
from functools import cached_property
from pathlib import Path

from ltx_trt.core.architecture import fingerprint
from ltx_trt.core.checkpoint import check_ltx23, stored_quantization
from ltx_trt.core.precision import Quantization
from ltx_trt.core.errors import UserError
from ltx_trt.core.shapes import ModelDims
from ltx_trt.core.source import ModelSource
from ltx_trt.model.transformer_parts import layout_from_config
from ltx_trt.model.weights import MappedFile, Origin, origin_of


class ModelFiles:
    """Owns the memory maps of a model's files; components are built from it."""

    weightless = False  # model/architecture.py: configs alone

    def __init__(self, source: ModelSource) -> None:
        self.source = source
        self.checkpoint = MappedFile(source.checkpoint)
        self.config = check_ltx23(self.checkpoint.header)

    @cached_property
    def upsampler(self) -> MappedFile:
        mapped = MappedFile(self.source.upsampler)
        if "config" not in mapped.header.metadata:
            raise UserError(f"{self.source.upsampler} has no config in its metadata",
                            "pass the official ltx-2.3-spatial-upscaler-x2 file with --upsampler")
        return mapped

    @cached_property
    def gemma_shards(self) -> list[MappedFile]:
        from ltx_trt.model.gemma import open_shards

        return open_shards(self.source.gemma)

    def check_chained(self) -> None:
        """Refuse, before any weight is read, files that do not hold exactly what the chained transformer and
        text encoder bind, whatever the executor (their weights reach the graphs through readers, not through a
        loaded module): the checkpoint's transformer tensors and the Gemma folder's config, tokenizer and
        tensors, with export's strict key maps (names, shapes, dtypes)."""
        from ltx_trt.model.gemma import check_folder
        from ltx_trt.model.transformer_parts import check_checkpoint

        check_checkpoint(self.checkpoint.header, self.config, self.stored_quantization)
        check_folder(self.source.gemma, self.gemma_shards)

    def origin_of(self, tensor) -> Origin | None:
        """Where a zero-copy weight's bytes lie in one of the files opened so far (None: not a view of one)."""
        opened = [self.checkpoint, self.__dict__.get("upsampler"), *self.__dict__.get("gemma_shards", [])]
        return origin_of(tensor, [f for f in opened if f is not None])

    @cached_property
    def upsampler_config(self) -> dict:
        return json.loads(self.upsampler.header.metadata["config"])

    @cached_property
    def gemma_config(self) -> dict:
        """The text config of the Gemma-3 folder (config.json's `text_config`, or the file itself)."""
        path = Path(self.source.gemma) / "config.json"
        try:
            config = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise UserError(f"cannot read {path} ({err})", "pass --gemma DIR, a Gemma-3 folder in HF layout") from err
        return config.get("text_config", config)

    def has_upsampler(self) -> bool:
        return Path(self.source.upsampler).is_file()  # tests may open a checkpoint alone

    @cached_property
    def architecture(self) -> str:
        """The architecture fingerprint (core/architecture.py) of these files: configs and layouts, no value."""
        upsampler = self.upsampler_config if self.has_upsampler() else {}
        return fingerprint(self.config, upsampler, self.gemma_config, self.dims)

    @cached_property
    def stored_quantization(self) -> Quantization | None:
        """How the checkpoint stores the transformer's block Linears (an official FP8 / NVFP4 file), or None."""
        return stored_quantization(self.checkpoint.header)

    @cached_property
    def dims(self) -> ModelDims:
        from ltx_trt.model.weight_inputs import whole_layouts

        t = self.config["transformer"]
        return ModelDims(
            video_heads=t["num_attention_heads"], video_head_dim=t["attention_head_dim"],
            audio_heads=t["audio_num_attention_heads"], audio_head_dim=t["audio_attention_head_dim"],
            audio_cross_dim=t["audio_cross_attention_dim"],
            gemma_hidden=self.gemma_config["hidden_size"], gemma_layers=self.gemma_config["num_hidden_layers"],
            transformer=dataclasses.replace(layout_from_config(self.config), quantization=self.stored_quantization),
            weights=whole_layouts(self),
            **self._text_layout(),
        )

    def _text_layout(self) -> dict:
        """The Gemma language model's layout, when the folder has a full Gemma-3 config (tests may pass a stub)."""
        path = Path(self.source.gemma) / "config.json"
        if json.loads(path.read_text()).get("model_type") != "gemma3":
            return {}
        from ltx_trt.model.text_parts import layout_from_folder

        layout, sliding = layout_from_folder(self.source.gemma)
        return {"text_encoder": layout, "sliding_layers": sliding}
