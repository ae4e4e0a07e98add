"""The component vocabulary shared by every stage, profile key, manifest key and file name.

Pure data; imports nothing.
"""

# Order is pipeline order; export, build and run iterate in it.
COMPONENTS = ("text_encoder", "connector", "transformer", "upsampler", "video_decoder", "audio_decoder")

DESCRIPTIONS = {
    "text_encoder": "Gemma-3 text encoder (all hidden states)",
    "connector": "text projection + video/audio embeddings connectors",
    "transformer": "LTX-2.3 audio-video diffusion transformer",
    "upsampler": "x2 spatial latent upsampler",
    "video_decoder": "video VAE decoder",
    "audio_decoder": "audio VAE decoder + vocoder with bandwidth extension",
}

# Precisions a profile may name. Only these export and build today; the others are reserved names
# so that a profile asking for them gets a clear "not yet" instead of a typo error.
SUPPORTED_PRECISIONS = ("bf16", "fp32")
PLANNED_PRECISIONS = ("fp8", "nvfp4", "int4")
