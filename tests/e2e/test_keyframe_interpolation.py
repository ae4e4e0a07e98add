"""`ltx-trt run --pipeline keyframes` against ltx-pipelines' KeyframeInterpolationPipeline object, on the tiny model:
a first and a last frame, both appended as guiding keyframes (image_conditionings_by_adding_guiding_latent), the
guided stage 1 and the distilled-LoRA stage 2 of the two-stage pipeline. Same checkpoint, LoRAs, guidance, seed,
images and text contexts as tests/e2e/test_dev_pipelines.py (its fixture); both stages' latents bit for bit with the
torch executor.
"""


import pytest
import torch

from tests.e2e.test_dev_pipelines import LORA_STRENGTH, SEED, STEPS, _with_stg_block, tiny  # noqa: F401 (a fixture)
from tests.e2e.test_image_conditioning import BUCKET, write_test_image
from tests.e2e.test_keyframes import _assert_equal, _ours, keyframe  # noqa: F401 (a fixture)
from tests.official import official_stages

LAST = BUCKET.frames - 1


def _official(tiny, images) -> list[torch.Tensor]:
    """KeyframeInterpolationPipeline called as its CLI calls it (two-stage's parser and parameters); stage latents."""
    from ltx_core.loader import LTXV_LORA_COMFY_RENAMING_MAP, LoraPathStrengthAndSDOps
    from ltx_pipelines import keyframe_interpolation as official
    from ltx_pipelines.utils.constants import LTX_2_3_PARAMS

    lora = lambda path, strength: LoraPathStrengthAndSDOps(str(path), strength, LTXV_LORA_COMFY_RENAMING_MAP)  # noqa
    params = LTX_2_3_PARAMS
    guiders = [_with_stg_block(p, 1) for p in (params.video_guider_params, params.audio_guider_params)]
    with official_stages(official, tiny.contexts) as recorded:
        src = tiny.source
        pipe = official.KeyframeInterpolationPipeline(
            checkpoint_path=str(src.checkpoint), distilled_lora=[lora(src.distilled_lora, 1.0)],
            spatial_upsampler_path=str(src.upsampler), gemma_root=str(src.gemma),
            loras=[lora(tiny.lora, LORA_STRENGTH)], device=torch.device("cpu"))
        with torch.inference_mode():
            pipe(prompt="unused", negative_prompt="unused", seed=SEED, height=BUCKET.height, width=BUCKET.width,
                 num_frames=BUCKET.frames, frame_rate=float(BUCKET.fps), num_inference_steps=STEPS["two-stage"],
                 video_guider_params=guiders[0], audio_guider_params=guiders[1], images=images)
    return recorded


def test_keyframe_interpolation_equals_the_official_pipeline_object_bit_for_bit(tiny, keyframe, tmp_path):
    from ltx_pipelines.utils.args import ImageConditioningInput
    from ltx_pipelines.utils.constants import DEFAULT_IMAGE_CRF

    first = write_test_image(tmp_path / "first.png")
    official = _official(tiny, [ImageConditioningInput(str(first), 0, 1.0, DEFAULT_IMAGE_CRF),
                                ImageConditioningInput(str(keyframe), LAST, 1.0, DEFAULT_IMAGE_CRF)])
    flags = ["--pipeline", "keyframes", "--lora", f"{tiny.lora}:{LORA_STRENGTH}", "--steps", str(STEPS["two-stage"]),
             "--video-stg-blocks", "1", "--audio-stg-blocks", "1", "--image", str(first), "--image",
             f"{keyframe}:{LAST}"]
    ours, output = _ours(tiny, flags, tmp_path)
    _assert_equal(ours, official)
    assert "pipeline: keyframes" in output


@pytest.mark.parametrize("name", ["two-stage", "hq"])
def test_a_keyframe_on_the_dev_pipelines_equals_the_official_pipeline_object_bit_for_bit(tiny, keyframe, tmp_path,
                                                                                        name):
    """--image past frame 0 on TI2VidTwoStagesPipeline / TI2VidTwoStagesHQPipeline (combined_image_conditionings:
    frame 0 replaced, the keyframe appended; hq's res_2s loop runs upstream's own denoise_audio_video)."""
    from ltx_pipelines.utils.args import ImageConditioningInput
    from ltx_pipelines.utils.constants import DEFAULT_IMAGE_CRF

    from tests.e2e.test_dev_pipelines import FLAGS, _official as official_dev

    first = write_test_image(tmp_path / "first.png")
    images = [ImageConditioningInput(str(first), 0, 1.0, DEFAULT_IMAGE_CRF),
              ImageConditioningInput(str(keyframe), 40, 0.8, DEFAULT_IMAGE_CRF)]
    official = official_dev(tiny, name, images)["latents"]
    flags = ["--pipeline", name, "--lora", f"{tiny.lora}:{LORA_STRENGTH}", *FLAGS[name], "--image", str(first),
             "--image", f"{keyframe}:40:0.8"]
    ours, _ = _ours(tiny, flags, tmp_path)
    _assert_equal(ours, official)
