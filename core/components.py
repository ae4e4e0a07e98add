"""The component vocabulary shared by every stage, profile key, manifest key and file name.

Pure data; imports nothing.
"""

# Order is pipeline order; export, build and run iterate in it.
COMPONENTS = ("text_encoder", "connector", "transformer", "upsampler", "video_encoder", "video_decoder",
              "audio_decoder")
MODALITIES = ("video", "audio")  # the transformer's two streams; video first wherever order matters
