"""Compatibility shims for importing ltx-core in an environment without torchaudio.

ltx-core imports torchaudio at module import time (`ltx_core/model/audio_vae/ops.py`) but only
uses it in the audio *encoder*'s mel-spectrogram, which ltx-trt never exports or runs. PyPI has no
torchaudio that loads against torch 2.13 (the CPU torch used here), so when torchaudio cannot be
imported we register a placeholder module whose every attribute raises a clear ImportError.
"""

import importlib.machinery
import importlib.util
import sys
import types

_MESSAGE = ("torchaudio is not installed; ltx-core needs it only for the audio encoder's "
            "mel spectrogram, which ltx-trt does not use")


class _MissingTorchaudio(types.ModuleType):
    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        raise ImportError(f"{_MESSAGE} (asked for torchaudio.{name})")


def install_torchaudio_placeholder() -> bool:
    """Make `import torchaudio` succeed if the real package is absent or broken. True if installed."""
    if "torchaudio" in sys.modules:
        return isinstance(sys.modules["torchaudio"], _MissingTorchaudio)
    if importlib.util.find_spec("torchaudio") is not None:
        try:
            importlib.import_module("torchaudio")
            return False
        except (ImportError, OSError):  # present but built for another torch
            pass
    placeholder = _MissingTorchaudio("torchaudio")
    # A spec without a loader: importlib.util.find_spec() (used by transformers' availability
    # checks) then works, and no distribution metadata exists, so they report "not available".
    placeholder.__spec__ = importlib.machinery.ModuleSpec("torchaudio", None)
    sys.modules["torchaudio"] = placeholder
    return True
