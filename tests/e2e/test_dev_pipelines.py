"""`ltx-trt run --pipeline two-stage` / `hq` against ltx-pipelines' own TI2VidTwoStagesPipeline /
TI2VidTwoStagesHQPipeline objects, on the tiny model.

Same checkpoint, distilled LoRA, user LoRA (on every transformer Linear), seed, guidance values and text
contexts on both sides; the CPU. Text encoding is the one piece not compared here: ltx-pipelines' ledger
builds Gemma-3-12B's architecture whatever the folder holds, so the tiny Gemma cannot load there; both
sides get the same fixed (prompt, negative prompt) contexts instead (the text graphs have their own parity
tests, tests/export/test_text_graphs.py). Compared: both stages' latents and the decoded frames and
waveform, bit for bit with the torch executor; the guided stage 1 on the exported ONNX through ONNX
Runtime within the bf16 tolerance.
"""

import types
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from ltx_trt.cli import main
from ltx_trt.core.profiles import load_profile
from ltx_trt.core.source import tiny_source
from ltx_trt.model import ltx23_config, synthetic
from tests.official import official_stages, our_stages

PROFILE = "rtx4090"
BUCKET = load_profile(PROFILE).buckets[0]
SEED, LORA_STRENGTH = 10, 0.7
STEPS = {"two-stage": 3, "hq": 2}  # hq: two res_2s steps are five stage-1 evaluations
# bf16, as the official pipeline runs (the profile's transformer is FP8, its audio decoder fp32)
COMMON = ("--precision", "transformer=bf16", "--precision", "audio_decoder=bf16", "--seed", str(SEED))
# the tiny transformer has 2 blocks: two-stage's STG on its last one (the official default, block 28, is beyond
# it); hq runs no STG
FLAGS = {"two-stage": (*COMMON, "--steps", str(STEPS["two-stage"]), "--video-stg-blocks", "1",
                       "--audio-stg-blocks", "1"),
         "hq": (*COMMON, "--steps", str(STEPS["hq"]))}


@pytest.fixture(scope="module")
def tiny(tiny_export, tmp_path_factory):
    """The exported tiny model, a user LoRA on every transformer Linear, and fixed text contexts."""
    artifacts = tiny_export(PROFILE)
    lora = tmp_path_factory.mktemp("lora") / "style.safetensors"
    synthetic.write_lora(lora, ltx23_config.tiny_config(), rank=4, seed=7)
    generator = torch.Generator().manual_seed(1)
    contexts = [{"video_context": torch.randn(1, 1024, 64, generator=generator).bfloat16(),
                 "audio_context": torch.randn(1, 1024, 32, generator=generator).bfloat16()} for _ in range(2)]
    return types.SimpleNamespace(artifacts=artifacts, source=tiny_source(artifacts), lora=lora, contexts=contexts)


def _official(tiny, name: str = "two-stage", images: list = ()) -> dict:
    """TI2VidTwoStagesPipeline / TI2VidTwoStagesHQPipeline called as its CLI calls it, stage latents and
    outputs recorded."""
    from ltx_core.loader import LTXV_LORA_COMFY_RENAMING_MAP, LoraPathStrengthAndSDOps
    from ltx_pipelines import ti2vid_two_stages, ti2vid_two_stages_hq
    from ltx_pipelines.utils.constants import LTX_2_3_HQ_PARAMS, LTX_2_3_PARAMS

    from ltx_trt.commands.request import official_distilled_lora_strengths

    lora = lambda path, strength: LoraPathStrengthAndSDOps(str(path), strength, LTXV_LORA_COMFY_RENAMING_MAP)  # noqa
    if name == "hq":
        official, params = ti2vid_two_stages_hq, LTX_2_3_HQ_PARAMS
        guiders = [params.video_guider_params, params.audio_guider_params]
    else:
        official, params = ti2vid_two_stages, LTX_2_3_PARAMS
        guiders = [_with_stg_block(p, 1) for p in (params.video_guider_params, params.audio_guider_params)]
    with official_stages(official, tiny.contexts, decode=True) as recorded:
        src = tiny.source
        common = dict(checkpoint_path=str(src.checkpoint), spatial_upsampler_path=str(src.upsampler),
                      gemma_root=str(src.gemma), loras=[lora(tiny.lora, LORA_STRENGTH)], device=torch.device("cpu"))
        if name == "hq":  # as its main() passes them: the parser's per-stage strengths, the LoRA at its default
            first, second = official_distilled_lora_strengths("hq")
            pipe = official.TI2VidTwoStagesHQPipeline(
                distilled_lora=[lora(src.distilled_lora, 1.0)], distilled_lora_strength_stage_1=first,
                distilled_lora_strength_stage_2=second, **common)
        else:
            pipe = official.TI2VidTwoStagesPipeline(distilled_lora=[lora(src.distilled_lora, 1.0)], **common)
        with torch.inference_mode():
            video, audio = pipe(prompt="unused", negative_prompt="unused", seed=SEED, height=BUCKET.height,
                                width=BUCKET.width, num_frames=BUCKET.frames, frame_rate=float(BUCKET.fps),
                                num_inference_steps=STEPS[name], video_guider_params=guiders[0],
                                audio_guider_params=guiders[1], images=list(images))
            frames = torch.cat(list(video))
    return {"latents": recorded, "frames": frames, "waveform": audio.waveform}


def _with_stg_block(params, block: int):
    import dataclasses

    return dataclasses.replace(params, stg_blocks=[block])


def _ours(tiny, executor: str, tmp_path: Path, name: str = "two-stage", extra: tuple[str, ...] = ()) -> dict:
    """`ltx-trt run --pipeline <name>` through the CLI, stage latents and the muxed streams recorded."""
    with our_stages(tiny.contexts) as ran:
        result = CliRunner().invoke(main, ["run", "--gpu", PROFILE, "--model", "tiny", "--artifacts",
                                           str(tiny.artifacts), "--executor", executor, "--pipeline", name,
                                           "--lora", f"{tiny.lora}:{LORA_STRENGTH}", "--output",
                                           str(tmp_path / "clip.mp4"), "--prompt", "unused", *FLAGS[name], *extra])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return {"latents": ran.latents, "output": result.output, **ran.written}


def _assert_equal_runs(official: dict, ours: dict) -> None:
    names = ["stage-1 video", "stage-1 audio", "stage-2 video", "stage-2 audio"]
    assert len(ours["latents"]) == len(official["latents"]) == 4
    for name, a, b in zip(names, ours["latents"], official["latents"]):
        assert a.shape == b.shape and a.dtype == b.dtype, f"{name}: {a.shape} {a.dtype} vs {b.shape} {b.dtype}"
        assert torch.equal(a, b), f"{name}: max |diff| {(a.float() - b.float()).abs().max().item()}"
    assert ours["latents"][2].float().std() > 0.1  # a real trajectory, not zeros
    assert torch.equal(ours["frames"], official["frames"])
    waveform = official["waveform"][..., : ours["waveform"].shape[-1]]  # ours ends padded with silence
    assert torch.equal(ours["waveform"][..., : waveform.shape[-1]], waveform.float())


def test_two_stage_run_equals_the_official_pipeline_object_bit_for_bit(tiny, tmp_path):
    official, ours = _official(tiny), _ours(tiny, "torch", tmp_path)
    _assert_equal_runs(official, ours)
    assert "passes conditional + negative + perturbed + isolated in one batch of 4" in ours["output"]
    assert "LoRAs" in ours["output"] and "merged" in ours["output"]


@pytest.mark.parametrize("name", ["two-stage", "hq"])
def test_image_to_video_equals_the_official_pipeline_object_bit_for_bit(tiny, tmp_path, name):
    """--image on the guided pipelines: the guided stage 1 (masked timesteps, blended guided x0) and stage 2
    equal TI2VidTwoStagesPipeline / TI2VidTwoStagesHQPipeline called with images=."""
    from ltx_pipelines.utils.args import ImageConditioningInput
    from ltx_pipelines.utils.constants import DEFAULT_IMAGE_CRF

    from tests.e2e.test_image_conditioning import write_test_image

    image = write_test_image(tmp_path / "gradient.png")
    official = _official(tiny, name, [ImageConditioningInput(str(image), 0, 0.9, DEFAULT_IMAGE_CRF)])
    ours = _ours(tiny, "torch", tmp_path, name, ("--image", f"{image}:0:0.9"))
    _assert_equal_runs(official, ours)  # (without the conditioning, the video latents are ~27% away)


def test_hq_run_equals_the_official_pipeline_object_bit_for_bit(tiny, tmp_path):
    official, ours = _official(tiny, "hq"), _ours(tiny, "torch", tmp_path, "hq")
    _assert_equal_runs(official, ours)
    assert f"{STEPS['hq']} res_2s steps, passes conditional + negative + isolated in one batch of 3" in ours["output"]
    assert f"step {STEPS['hq']}/{STEPS['hq']}" in ours["output"]


def test_hq_run_on_the_tiny_model_writes_the_clip(tiny, tmp_path):
    output = tmp_path / "fox.mp4"
    result = CliRunner().invoke(main, ["run", "--gpu", PROFILE, "--model", "tiny", "--artifacts", str(tiny.artifacts),
                                       "--executor", "torch", "--pipeline", "hq", "--lora",
                                       f"{tiny.lora}:{LORA_STRENGTH}", "--output", str(output), "--prompt",
                                       "a red fox", *COMMON, "--steps", "1"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "done in " in result.output and str(output) in result.output  # (the official loop's tqdm bar after it)
    assert [p.name for p in tmp_path.iterdir()] == ["fox.mp4"] and output.stat().st_size > 0
