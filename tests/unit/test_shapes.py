from ltx_trt.core import shapes
from ltx_trt.core.plan import GUIDED_BATCHES, physical, profile_graphs
from ltx_trt.core.profiles import load_profile
from ltx_trt.model import gemma_synthetic
from ltx_trt.model.ltx23_config import full_config
from ltx_trt.model.text_parts import layout_from_folder
from ltx_trt.model.transformer_parts import layout_from_config

TEXT, SLIDING = layout_from_folder(gemma_synthetic.gemma3_config(gemma_synthetic.full_text_config(), gemma_synthetic.FULL_VISION))
FULL = shapes.ModelDims(video_heads=32, video_head_dim=128, audio_heads=32, audio_head_dim=64,
                        audio_cross_dim=2048, gemma_hidden=3840, gemma_layers=48,
                        transformer=layout_from_config(full_config()), text_encoder=TEXT, sliding_layers=SLIDING)


def test_latent_grids_match_the_model_brief():
    # token counts of the four reference cases of the LTX-2.3 model brief
    assert shapes.latent_grid(768, 512, 121, 24).video_tokens == 6144
    assert shapes.latent_grid(1280, 704, 241, 24).video_tokens == 27280
    assert shapes.latent_grid(640, 352, 241, 24).video_tokens == 6820
    assert shapes.latent_grid(384, 256, 121, 24).video_tokens == 1536
    assert shapes.latent_grid(768, 512, 121, 24).audio_tokens == 126
    assert shapes.latent_grid(1280, 704, 241, 24).audio_tokens == 251


def test_audio_samples_are_48k_for_the_clip():
    # (4 Na - 3) mel frames x 160 samples at 16 kHz, x3 for 48 kHz.
    assert shapes.audio_samples(126) == 240_480
    assert shapes.audio_samples(251) == 480_480


def test_transformer_specs_have_full_size_rope_tables():
    grid = shapes.latent_grid(768, 512, 121, 24)
    inputs, outputs = shapes.transformer_specs(FULL, grid, "bfloat16")
    by_name = {s.name: s for s in inputs}
    assert by_name["video_rope_cos"].shape == (1, 32, 6144, 64)
    assert by_name["audio_rope_cos"].shape == (1, 32, 126, 32)
    assert by_name["video_cross_rope_sin"].shape == (1, 32, 6144, 32)
    assert by_name["video_timesteps"].dtype == "float32"
    assert [o.name for o in outputs] == ["video_velocity", "audio_velocity"]


def test_profile_plan_has_one_graph_per_component_and_shape():
    profile = load_profile("rtx4090")
    keys = [g.key for g in profile_graphs(profile, FULL)]
    assert keys[:2] == ["text_encoder", "connector"]
    assert "transformer.768x512-5s.stage1" in keys and "transformer.1280x704-10s.stage2" in keys
    assert "transformer.768x512-5s.guided4" in keys and "transformer.1280x704-10s.guided3" in keys
    assert "video_encoder.768x512-5s.stage1" in keys and "video_encoder.768x512-5s.stage2" in keys
    # per bucket: two stages, the guided graphs, upsampler, the video encoder at both stage sizes and two decoders
    assert len(keys) == len(set(keys)) == 2 + (2 + len(GUIDED_BATCHES) + 5) * len(profile.buckets)
    parts = [g.key for g in physical(profile_graphs(profile, FULL))]  # chained models as pre, blocks, post
    # FP8: blocks 2-45 run the quantized block graph, blocks 0-1 and 46-47 the bf16 one
    assert {"transformer.768x512-5s.stage1.block", "transformer.768x512-5s.stage1.block_fp8"} <= set(parts)
    assert "transformer.768x512-5s.stage1" not in parts
    assert "text_encoder.block_int4" in parts and "text_encoder" not in parts  # every Gemma layer INT4
    # text encoder: pre, block_int4, post; connector; per bucket: two stages and the guided graphs of pre, block,
    # block_fp8, post + 3
    assert len(parts) == len(set(parts)) == 4 + ((2 + len(GUIDED_BATCHES)) * 4 + 5) * len(profile.buckets)


def test_fp8_block_takes_fp8_weights_with_their_scales_and_bf16_biases():
    graph = next(g for g in profile_graphs(load_profile("rtx4090"), FULL) if g.component == "transformer")
    assert graph.weights.quantization.blocks == tuple(range(2, 46)) and len(graph.weights.quantization.linears) == 34
    assert [graph.weights.part_of(i) for i in (0, 1, 2, 45, 46, 47)] == ["block"] * 2 + ["block_fp8"] * 2 + ["block"] * 2
    inputs = {s.name: s for s in graph.part("block_fp8").inputs}
    assert (inputs["weight.ff.net.0.proj.weight"].dtype, inputs["weight.ff.net.0.proj.weight"].shape) == \
        ("float8_e4m3fn", (16384, 4096))
    assert inputs["weight.ff.net.0.proj.weight_scale"].shape == () == inputs["weight.attn1.to_q.input_scale"].shape
    assert inputs["weight.ff.net.0.proj.bias"].dtype == "bfloat16" and inputs["weight.attn1.q_norm.weight"].dtype == "bfloat16"
    fp8_bytes = sum(s.nbytes for s in inputs.values() if s.name.startswith(shapes.WEIGHT_PREFIX))
    assert 0.5 < fp8_bytes / (2 * FULL.transformer.count("block")) < 0.51  # half the bf16 block


def test_full_size_text_encoder_parts_have_gemma_3_12b_shapes():
    assert TEXT.blocks == 48 and len(SLIDING) == 40  # five sliding-window layers per full-attention layer
    assert TEXT.count("pre") == 262208 * 3840 and dict(TEXT.block)["mlp.down_proj.weight"] == (3840, 15360)
    inputs, outputs = shapes.text_encoder_part_specs(FULL, "bfloat16", "pre")
    by_name = {s.name: s.shape for s in outputs}
    assert by_name["sliding_attention_mask"] == (1, 1, 1024, 1024) and by_name["local_rope_cos"] == (1, 1024, 256)


def test_full_size_transformer_parts_have_the_checkpoints_shapes():
    layout = FULL.transformer
    assert layout.blocks == 48
    assert layout.count("block") == 386_695_360 and dict(layout.block)["ff.net.0.proj.weight"] == (16384, 4096)
    grid = shapes.latent_grid(768, 512, 121, 24)
    inputs, outputs = shapes.transformer_part_specs(FULL, grid, "bfloat16", "pre")
    by_name = {s.name: s.shape for s in outputs}
    assert by_name["video_ada_timesteps"] == (1, 6144, 9 * 4096)  # 9 AdaLN rows per token
    assert by_name["audio_cross_scale_shift"] == (1, 1, 4 * 2048) and by_name["video_cross_gate"] == (1, 1, 4096)
    block_in, block_out = shapes.transformer_part_specs(FULL, grid, "bfloat16", "block")
    assert len([s for s in block_in if s.name.startswith(shapes.WEIGHT_PREFIX)]) == 86
    assert [s.shape for s in block_out] == [(1, 6144, 4096), (1, 126, 2048)]


def test_video_encoder_specs_take_one_image_at_each_stage_size_to_one_latent_frame():
    low, full = shapes.stage_grids(load_profile("rtx4090").buckets[0])
    for grid, pixels in ((low, (1, 3, 1, 256, 384)), (full, (1, 3, 1, 512, 768))):
        (image,), (latent,) = shapes.video_encoder_specs(grid, "bfloat16")
        assert (image.name, image.shape, latent.name) == ("image", pixels, "image_latent")
        assert latent.shape == (1, 128, 1, grid.height, grid.width)
