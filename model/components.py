"""One torch module per component, built by ltx-core's own configurators from the checkpoint config.

`build_module` must be called under `torch.device("meta")` for full-size work (weights are then
loaded or streamed from the file). The Gemma text encoder is built in model/gemma.py.
Imports torch and ltx-core; of ltx_trt, imports core only.
"""

import torch

from ltx_trt.core.compat import install_torchaudio_placeholder
from ltx_trt.model.loading import KeyMap

install_torchaudio_placeholder()

from ltx_core.model.audio_vae import (  # noqa: E402  (needs the placeholder first)
    AudioDecoderConfigurator,
    AudioEncoderConfigurator,
    VocoderConfigurator,
)
from ltx_core.model.transformer.model_configurator import LTXModelConfigurator  # noqa: E402
from ltx_core.model.upsampler.model_configurator import LatentUpsamplerConfigurator  # noqa: E402
from ltx_core.model.video_vae.model_configurator import (  # noqa: E402
    VideoDecoderConfigurator,
    VideoEncoderConfigurator,
)
from ltx_core.text_encoders.gemma.embeddings_connector import (  # noqa: E402
    AudioEmbeddings1DConnectorConfigurator,
    Embeddings1DConnectorConfigurator,
)
from ltx_core.text_encoders.gemma.embeddings_processor import EmbeddingsProcessor  # noqa: E402
from ltx_core.text_encoders.gemma.feature_extractor import FeatureExtractorV2  # noqa: E402


class AudioDecoderWithVocoder(torch.nn.Module):
    """The audio decoder and the vocoder (+ bandwidth extension) as one component."""

    def __init__(self, decoder: torch.nn.Module, vocoder: torch.nn.Module) -> None:
        super().__init__()
        self.decoder = decoder
        self.vocoder = vocoder


def transformer(config: dict) -> torch.nn.Module:
    # Force PyTorch SDPA: the default picks xformers when importable, which does not export.
    transformer_config = {**config["transformer"], "attention_type": "pytorch"}
    return LTXModelConfigurator.from_config({**config, "transformer": transformer_config})


def connector(config: dict, gemma_hidden: int, gemma_layers: int) -> torch.nn.Module:
    """Text projection (FeatureExtractorV2) + both connectors, sized by the Gemma that feeds them."""
    t = config["transformer"]
    flat = gemma_hidden * (gemma_layers + 1)  # every hidden state, embedding output included
    video_dim = t["num_attention_heads"] * t["attention_head_dim"]
    audio_dim = t["audio_num_attention_heads"] * t["audio_attention_head_dim"]
    return EmbeddingsProcessor(
        feature_extractor=FeatureExtractorV2(
            video_aggregate_embed=torch.nn.Linear(flat, video_dim, bias=True),
            embedding_dim=gemma_hidden,
            audio_aggregate_embed=torch.nn.Linear(flat, audio_dim, bias=True),
        ),
        video_connector=Embeddings1DConnectorConfigurator.from_config(config),
        audio_connector=AudioEmbeddings1DConnectorConfigurator.from_config(config),
    )


def upsampler(upsampler_config: dict) -> torch.nn.Module:
    return LatentUpsamplerConfigurator.from_config(upsampler_config)


def video_decoder(config: dict) -> torch.nn.Module:
    return VideoDecoderConfigurator.from_config(config)


def audio_decoder(config: dict) -> torch.nn.Module:
    return AudioDecoderWithVocoder(AudioDecoderConfigurator.from_config(config),
                                   VocoderConfigurator.from_config(config))


# The video encoder is exported (image conditioning, model/decoder_graphs.py); the audio encoder never is: the
# synthetic checkpoint writer needs it for the real file layout.
def video_encoder(config: dict) -> torch.nn.Module:
    return VideoEncoderConfigurator.from_config(config)


def audio_encoder(config: dict) -> torch.nn.Module:
    return AudioEncoderConfigurator.from_config(config)


ENCODER_KEY_MAPS = {
    "video_encoder": KeyMap((("vae.per_channel_statistics.", "per_channel_statistics."), ("vae.encoder.", ""))),
    "audio_encoder": KeyMap((("audio_vae.per_channel_statistics.", "per_channel_statistics."),
                             ("audio_vae.encoder.", ""))),
}
