"""The VAE side as plain-tensor graphs: x2 latent upsampler, video VAE encoder (image conditioning), video VAE
decoder, audio VAE decoder + vocoder.

Each wrapper calls ltx-core's own code as ltx-pipelines' distilled pipeline does: `upsample_video`,
`VideoEncoder.forward` (what `combined_image_conditionings` calls on one image), `VideoDecoder.forward`
(untiled `decode_video` before its uint8 mapping) and `decode_audio`. No export override is needed. Their
weights are graph inputs (model/weight_inputs.py). The upsampler draws weights from two files: its own and, for the latent
statistics `upsample_video` un-normalises and re-normalises with, the main checkpoint.
Imports torch and ltx-core; of ltx_trt, imports core only.
"""

import dataclasses
from pathlib import Path

import torch
from ltx_core.model.upsampler import upsample_video
from ltx_core.model.video_vae.ops import PerChannelStatistics

from ltx_trt.core.compat import install_torchaudio_placeholder
from ltx_trt.core.errors import UserError
from ltx_trt.core.plan import Graph
from ltx_trt.core.shapes import VIDEO_LATENT_CHANNELS
from ltx_trt.model import components
from ltx_trt.model.graph_modules import ComponentModel, random_like_spec
from ltx_trt.model.loading import KEY_MAPS, KeyMap, key_mapping
from ltx_trt.model.weight_inputs import weights_as_inputs, with_weight_examples
from ltx_trt.model.weights import assign_from_file, parameters_on_meta

install_torchaudio_placeholder()

from ltx_core.model.audio_vae import decode_audio  # noqa: E402  (needs the placeholder first)

# The video VAE's latent statistics in the main checkpoint, as the video encoder loads them
# (ltx-core's VAE_ENCODER_COMFY_KEYS_FILTER); the file's two other statistics are not used.
VIDEO_STATISTICS_KEY_MAP = KeyMap((("vae.per_channel_statistics.", ""),),
                                  unused=("vae.per_channel_statistics.channel",
                                          "vae.per_channel_statistics.mean-of-stds"))

# VideoDecoderConfigurator falls back to timestep_conditioning=True (decode noise) and reflect padding
# when these keys are missing; LTX-2.3 sets them, so a config without them is not one we know.
_DECODER_KEYS = ("timestep_conditioning", "spatial_padding_mode")


class UpsamplerWithStatistics(torch.nn.Module):
    """The x2 latent upsampler and the video VAE's latent statistics.

    Of the video encoder, `upsample_video` reads only `per_channel_statistics`, so this module stands
    in for the encoder there (the real one has 319 M parameters the graph never uses).
    """

    def __init__(self, upsampler: torch.nn.Module, statistics: torch.nn.Module) -> None:
        super().__init__()
        self.upsampler = upsampler
        self.per_channel_statistics = statistics


def upsampler_skeleton(files, dtype: torch.dtype) -> UpsamplerWithStatistics:
    """The upsampler and the statistics without weights (parameters on meta; buffers as at init)."""
    config = files.upsampler_config
    check_upsampler_config(config, files.source.upsampler)
    with parameters_on_meta():
        upsampler = components.upsampler(config)
    statistics = PerChannelStatistics(VIDEO_LATENT_CHANNELS)  # buffers, real at init, replaced from the file
    return UpsamplerWithStatistics(upsampler, statistics).eval()


def build_upsampler(files, dtype: torch.dtype) -> UpsamplerWithStatistics:
    model = upsampler_skeleton(files, dtype)
    upsampler, statistics = model.upsampler, model.per_channel_statistics
    assign_from_file(upsampler, files.upsampler, key_mapping(upsampler, files.upsampler.header,
                                                             KEY_MAPS["upsampler"]), dtype)
    assign_from_file(statistics, files.checkpoint, key_mapping(statistics, files.checkpoint.header,
                                                               VIDEO_STATISTICS_KEY_MAP), dtype)
    return model.eval()


def video_decoder_skeleton(files, dtype: torch.dtype) -> torch.nn.Module:
    check_video_decoder_config(files.config["vae"], files.source.checkpoint)
    with parameters_on_meta():
        return components.video_decoder(files.config).eval()


def build_video_decoder(files, dtype: torch.dtype) -> torch.nn.Module:
    decoder = video_decoder_skeleton(files, dtype)
    mapping = key_mapping(decoder, files.checkpoint.header, KEY_MAPS["video_decoder"])
    return assign_from_file(decoder, files.checkpoint, mapping, dtype)


def video_encoder_skeleton(files, dtype: torch.dtype) -> torch.nn.Module:
    """ltx-core's VideoEncoder without weights (parameters on meta; its latent statistics buffers as at init)."""
    with parameters_on_meta():
        return components.video_encoder(files.config).eval()


def build_video_encoder(files, dtype: torch.dtype) -> torch.nn.Module:
    """ltx-core's VideoEncoder with its latent statistics (it normalises what it encodes), as the ledger loads it."""
    encoder = video_encoder_skeleton(files, dtype)
    keymap = dataclasses.replace(components.ENCODER_KEY_MAPS["video_encoder"], unused=VIDEO_STATISTICS_KEY_MAP.unused)
    return assign_from_file(encoder, files.checkpoint, key_mapping(encoder, files.checkpoint.header, keymap), dtype)


def audio_decoder_skeleton(files, dtype: torch.dtype) -> torch.nn.Module:
    with parameters_on_meta():
        return components.audio_decoder(files.config).eval()  # the resampler filter is computed here, not stored


def build_audio_decoder(files, dtype: torch.dtype) -> torch.nn.Module:
    model = audio_decoder_skeleton(files, dtype)
    mapping = key_mapping(model, files.checkpoint.header, KEY_MAPS["audio_decoder"])
    return assign_from_file(model, files.checkpoint, mapping, dtype)


def check_video_decoder_config(vae: dict, path: Path) -> None:
    """Refuse a config that would make ltx-core silently pick decode noise or reflect padding."""
    missing = [key for key in _DECODER_KEYS if key not in vae]
    if missing:
        raise UserError(f"{path}: the vae config lacks {', '.join(missing)} (ltx-core would assume "
                        "timestep_conditioning=true / spatial_padding_mode=reflect)",
                        "use the official LTX-2.3 checkpoint, whose config sets both")
    if vae["timestep_conditioning"]:
        raise UserError(f"{path}: the video decoder is timestep-conditioned (it adds random noise when decoding)",
                        "ltx-trt supports LTX-2.3 only, whose decoder has timestep_conditioning false")


def check_upsampler_config(config: dict, path: Path) -> None:
    """The plan's upsampler graph doubles height and width only (core/shapes.py upsampler_specs)."""
    if not config.get("spatial_upsample", True) or config.get("temporal_upsample", False) \
            or config.get("spatial_scale", 2.0) != 2.0:
        raise UserError(f"{path} is not an x2 spatial latent upsampler (config: {config})",
                        "pass ltx-2.3-spatial-upscaler-x2-1.0.safetensors with --upsampler")


class UpsamplerGraph(torch.nn.Module):
    """forward(stage1_video_latent (1,128,F,h,w)) -> (stage2_video_latent (1,128,F,2h,2w),), normalised."""

    def __init__(self, model: UpsamplerWithStatistics) -> None:
        super().__init__()
        self.model = model

    def forward(self, stage1_video_latent):
        return (upsample_video(stage1_video_latent, video_encoder=self.model, upsampler=self.model.upsampler),)


class VideoEncoderGraph(torch.nn.Module):
    """forward(image (1,3,1,32h,32w) in [-1, 1]) -> (image_latent (1,128,1,h,w),), normalised: `video_encoder(image)`."""

    def __init__(self, encoder: torch.nn.Module) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, image):
        return (self.encoder(image),)


class VideoDecoderGraph(torch.nn.Module):
    """forward(video_latent (1,128,F',H',W')) -> (video_pixels (1,3,8(F'-1)+1,32H',32W'),) in about [-1, 1].

    What `decode_video` computes untiled before its uint8 mapping, which the host does.
    """

    def __init__(self, decoder: torch.nn.Module) -> None:
        super().__init__()
        self.decoder = decoder

    def forward(self, video_latent):
        return (self.decoder(video_latent),)


class AudioDecoderGraph(torch.nn.Module):
    """forward(audio_latent (1,8,Na,16)) -> (audio_waveform (1,2,480(4Na-3)) float32 at 48 kHz,).

    `decode_audio` itself (decoder, then vocoder + bandwidth extension, then float32); it drops the
    batch dimension, which is put back. The decoder un-normalises the latent itself.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, audio_latent):
        return (decode_audio(audio_latent, self.model.decoder, self.model.vocoder).waveform.unsqueeze(0),)


def example_inputs(model: torch.nn.Module, graph: Graph, seed: int) -> list[torch.Tensor]:
    """Standard-normal latents: the decoders and the upsampler take normalised latents."""
    generator = torch.Generator().manual_seed(seed)
    return [random_like_spec(spec, generator) for spec in graph.inputs]


def _wrapper(cls):
    return weights_as_inputs(lambda model, graph: cls(model).eval())


_examples = with_weight_examples(example_inputs)
COMPONENTS = {
    "upsampler": ComponentModel(build_upsampler, _wrapper(UpsamplerGraph), example_inputs=_examples,
                                skeleton=upsampler_skeleton),
    "video_encoder": ComponentModel(build_video_encoder, _wrapper(VideoEncoderGraph), example_inputs=_examples,
                                    skeleton=video_encoder_skeleton),
    "video_decoder": ComponentModel(build_video_decoder, _wrapper(VideoDecoderGraph), example_inputs=_examples,
                                    skeleton=video_decoder_skeleton),
    "audio_decoder": ComponentModel(build_audio_decoder, _wrapper(AudioDecoderGraph), example_inputs=_examples,
                                    skeleton=audio_decoder_skeleton),
}
