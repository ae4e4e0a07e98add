"""An architecture fingerprint: what an export's graphs depend on besides the profile, with no weight value.

Engines take every weight as an input (docs/DESIGN.md, issue #11), so a profile's engines fit every
checkpoint of one architecture. The fingerprint is the sha256 of the LTX config, the upsampler config,
the Gemma-3 text config keys that change the graphs, and the model dims (every graph's weight names and
shapes), as canonical JSON. `run --engines PACK` compares the pack's with the user's files'. Pure Python.
"""

import dataclasses
import hashlib
import json

from ltx_trt.core.errors import UserError
from ltx_trt.core.shapes import ModelDims

# Gemma-3 text config keys that change what the text encoder graphs compute (RoPE, masks, norms, widths)
GEMMA_KEYS = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
              "head_dim", "vocab_size", "rope_theta", "rope_local_base_freq", "rope_scaling", "sliding_window",
              "sliding_window_pattern", "rms_norm_eps", "query_pre_attn_scalar", "hidden_activation",
              "attn_logit_softcapping", "final_logit_softcapping")
# the architectures `export --architecture` knows (their configs: model/architecture.py)
ARCHITECTURES = ("ltx-2.3-22b", "ltx-2.3-tiny")


def fingerprint(config: dict, upsampler_config: dict, gemma_config: dict, dims: ModelDims) -> str:
    """sha256 of the architecture: configs and tensor layouts, never a value of a weight."""
    layout = dataclasses.asdict(dims)
    if layout.get("transformer"):
        layout["transformer"]["quantization"] = None  # how a file stores its weights is not the architecture
    facts = {"ltx": config, "upsampler": upsampler_config,
             "gemma": {k: gemma_config.get(k) for k in GEMMA_KEYS}, "dims": layout}
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=list).encode()).hexdigest()


def check_name(name: str) -> str:
    if name not in ARCHITECTURES:
        raise UserError(f"unknown architecture {name!r}", f"choose from: {', '.join(ARCHITECTURES)}")
    return name
