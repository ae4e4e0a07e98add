"""The LTX-2.3 22B architecture config, as stored in the checkpoint header, and its tiny variant.

The full config is LTX-2.3's header config (the `config` metadata of ltx-2.3-22b-*.safetensors); the tiny config
keeps every structural flag and shrinks widths and depths so the whole pipeline runs on a CPU.
Pure data; imports nothing heavy.
"""

import copy

MODEL_VERSION = "2.3.0"

_VAE_ENCODER_BLOCKS = [
    ["res_x", {"num_layers": 4}], ["compress_space_res", {"multiplier": 2}], ["res_x", {"num_layers": 6}],
    ["compress_time_res", {"multiplier": 2}], ["res_x", {"num_layers": 4}], ["compress_all_res", {"multiplier": 2}],
    ["res_x", {"num_layers": 2}], ["compress_all_res", {"multiplier": 1}], ["res_x", {"num_layers": 2}],
]
_VAE_DECODER_BLOCKS = [
    ["res_x", {"num_layers": 4}], ["compress_space", {"multiplier": 2}], ["res_x", {"num_layers": 6}],
    ["compress_time", {"multiplier": 2}], ["res_x", {"num_layers": 4}], ["compress_all", {"multiplier": 1}],
    ["res_x", {"num_layers": 2}], ["compress_all", {"multiplier": 2}], ["res_x", {"num_layers": 2}],
]
_AMP_RESBLOCKS = {"resblock": "AMP1", "resblock_kernel_sizes": [3, 7, 11],
                  "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "stereo": True,
                  "activation": "snakebeta", "use_tanh_at_final": False, "use_bias_at_final": False}

FULL_CONFIG = {
    "transformer": {
        "num_layers": 48, "num_attention_heads": 32, "attention_head_dim": 128, "cross_attention_dim": 4096,
        "in_channels": 128, "out_channels": 128, "audio_num_attention_heads": 32, "audio_attention_head_dim": 64,
        "audio_cross_attention_dim": 2048, "audio_out_channels": 128, "norm_eps": 1e-6,
        "norm_elementwise_affine": False, "standardization_norm": "rms_norm", "qk_norm": "rms_norm",
        "activation_fn": "gelu-approximate", "attention_bias": True, "positional_embedding_type": "rope",
        "positional_embedding_theta": 10000.0, "positional_embedding_max_pos": [20, 2048, 2048],
        "audio_positional_embedding_max_pos": [20], "use_middle_indices_grid": True, "rope_type": "split",
        "frequencies_precision": "float64", "timestep_scale_multiplier": 1000,
        "av_ca_timestep_scale_multiplier": 1000.0, "apply_gated_attention": True, "cross_attention_adaln": True,
        "caption_channels": 3840, "caption_proj_before_connector": True, "caption_projection_first_linear": False,
        "caption_projection_second_linear": False, "caption_proj_input_norm": False,
        "text_encoder_norm_type": "per_token_rms", "connector_num_layers": 8, "connector_num_attention_heads": 32,
        "connector_attention_head_dim": 128, "audio_connector_num_attention_heads": 32,
        "audio_connector_attention_head_dim": 64, "connector_positional_embedding_max_pos": [4096],
        "connector_num_learnable_registers": 128, "connector_apply_gated_attention": True,
        "causal_temporal_positioning": True, "connector_norm_output": True, "connector_learnable_registers_std": 1,
        "norm_num_groups": 32, "num_embeds_ada_norm": 1000,
        # Checked (not read) by ltx-core's configurator: the real header carries them.
        "dropout": 0.0, "num_vector_embeds": None, "use_linear_projection": False, "only_cross_attention": False,
        "cross_attention_norm": True, "double_self_attention": False, "upcast_attention": False,
        "use_audio_video_cross_attention": True, "share_ff": False, "av_cross_ada_norm": True,
    },
    "vae": {
        "_class_name": "CausalVideoAutoencoder", "dims": 3, "in_channels": 3, "out_channels": 3,
        "latent_channels": 128, "patch_size": 4, "norm_layer": "pixel_norm", "latent_log_var": "uniform",
        "causal_decoder": False, "timestep_conditioning": False, "spatial_padding_mode": "zeros",
        "encoder_base_channels": 128, "decoder_base_channels": 128,
        "encoder_blocks": _VAE_ENCODER_BLOCKS, "decoder_blocks": _VAE_DECODER_BLOCKS,
    },
    "audio_vae": {
        "model": {"params": {
            "ddconfig": {"ch": 128, "ch_mult": [1, 2, 4], "num_res_blocks": 2, "z_channels": 8, "double_z": True,
                         "mel_bins": 64, "in_channels": 2, "out_ch": 2, "resolution": 256, "attn_resolutions": [],
                         "mid_block_add_attention": False, "norm_type": "pixel", "causality_axis": "height"},
            "sampling_rate": 16000}},
        "preprocessing": {"stft": {"filter_length": 1024, "hop_length": 160, "win_length": 1024, "causal": True},
                          "mel": {"n_mel_channels": 64, "mel_fmin": 0, "mel_fmax": 8000}},
    },
    "vocoder": {
        "vocoder": {"upsample_initial_channel": 1536, "upsample_rates": [5, 2, 2, 2, 2, 2],
                    "upsample_kernel_sizes": [11, 4, 4, 4, 4, 4], **_AMP_RESBLOCKS},
        "bwe": {"upsample_initial_channel": 512, "upsample_rates": [6, 5, 2, 2, 2],
                "upsample_kernel_sizes": [12, 11, 4, 4, 4], **_AMP_RESBLOCKS, "input_sampling_rate": 16000,
                "output_sampling_rate": 48000, "hop_length": 80, "n_fft": 512, "win_size": 512, "num_mels": 64},
    },
    "scheduler": {},
}

# Widths and depths only; every structural flag stays as in the 22B config.
_TINY_OVERRIDES = {
    "transformer": {
        "num_layers": 2, "num_attention_heads": 2, "attention_head_dim": 32, "cross_attention_dim": 64,
        "audio_num_attention_heads": 2, "audio_attention_head_dim": 16, "audio_cross_attention_dim": 32,
        "connector_num_layers": 2, "connector_num_attention_heads": 2, "connector_attention_head_dim": 32,
        "audio_connector_num_attention_heads": 2, "audio_connector_attention_head_dim": 16,
        "connector_num_learnable_registers": 128, "caption_channels": 64,
    },
    # The encoder's width is tied to the 128 latent channels; the tiny one keeps only the compress blocks
    # (it is never exported; it is in the file for the real key layout).
    "vae": {"encoder_base_channels": 8, "decoder_base_channels": 8,
            "encoder_blocks": [["compress_space_res", {"multiplier": 2}], ["compress_time_res", {"multiplier": 2}],
                               ["compress_all_res", {"multiplier": 2}], ["compress_all_res", {"multiplier": 1}]]},
    # The audio decoder sizes its latent statistics by `ch`, which must stay 128; shrink depth instead.
    "audio_vae": {"model": {"params": {"ddconfig": {"ch_mult": [1, 1, 1], "num_res_blocks": 1}}}},
    # Each upsampling stage halves the channels: 128 (6 stages) and 64 (5 stages) end at 2.
    "vocoder": {"vocoder": {"upsample_initial_channel": 128}, "bwe": {"upsample_initial_channel": 64}},
}

# The x2 spatial upsampler ships as its own file with its own config.
FULL_UPSAMPLER_CONFIG = {"in_channels": 128, "mid_channels": 1024, "num_blocks_per_stage": 4, "dims": 3,
                         "spatial_upsample": True, "temporal_upsample": False, "spatial_scale": 2.0,
                         "rational_resampler": False}
TINY_UPSAMPLER_CONFIG = {**FULL_UPSAMPLER_CONFIG, "mid_channels": 32, "num_blocks_per_stage": 1}


def _merge(base: dict, overrides: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) else value
    return out


def full_config() -> dict:
    return copy.deepcopy(FULL_CONFIG)


def tiny_config() -> dict:
    return _merge(FULL_CONFIG, _TINY_OVERRIDES)
