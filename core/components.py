"""The component vocabulary shared by every stage, profile key, manifest key and file name.

Pure data; imports nothing.
"""

# Order is pipeline order; export, build and run iterate in it.
COMPONENTS = ("text_encoder", "connector", "transformer", "upsampler", "video_decoder", "audio_decoder")
MODALITIES = ("video", "audio")  # the transformer's two streams; video first wherever order matters
PARTS = ("pre", "block", "post")  # a chained model's physical graphs (runtime/chain.py)

# Precisions a profile may name. Only these export and build today; the others are reserved names
# so that a profile asking for them gets a clear "not yet" instead of a typo error.
SUPPORTED_PRECISIONS = ("bf16", "fp32")
PLANNED_PRECISIONS = ("fp8", "nvfp4", "int4")
