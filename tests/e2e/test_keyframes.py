"""`ltx-trt run --image A --image B:F` (a keyframe past frame 0) against ltx-pipelines' DistilledPipeline called with
the same `images=`, on the tiny model, bit for bit with the torch executor.

Upstream appends a keyframe's latent tokens to the video sequence (VideoConditionByKeyframeIndex: one latent frame,
positions from frame F) and strips them after each stage (clear_conditioning): the run picks the transformer graphs
made for that many appended frames. Same checkpoint, images, seed and text contexts as
tests/e2e/test_image_conditioning.py (its fixtures, its export); compared: both stages' latents.
"""

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from ltx_trt.cli import main
from ltx_trt.runtime import pipeline
from tests.e2e.test_image_conditioning import (BUCKET, COMMON, PROFILE, SEED, _Routed, official_distilled,  # noqa: F401
                                               tiny)  # (a fixture)
from tests.official import our_stages
from tests.reference import RELATIVE_L2, relative_l2
from tests.runtime.test_sampler_parity import BF16_TRANSFORMER

FRAME, STRENGTH = 60, 0.9  # a pixel frame off the VAE's 8-frame grid: upstream accepts it, so does run
NAMES = ["stage-1 video", "stage-1 audio", "stage-2 video", "stage-2 audio"]


@pytest.fixture(scope="module")
def official(tiny, keyframe):
    return official_distilled(tiny, _inputs(tiny, keyframe))


@pytest.fixture(scope="module")
def keyframe(tmp_path_factory) -> Path:
    """A second image, unlike the first (a checkerboard), 160x96 PNG."""
    y, x = np.mgrid[0:96, 0:160]
    board = ((x // 16 + y // 16) % 2 * 200 + 30).astype(np.uint8)
    path = tmp_path_factory.mktemp("keyframe") / "board.png"
    Image.fromarray(np.stack([board, 255 - board, board // 2], -1)).save(path)
    return path


def _inputs(tiny, keyframe):
    from ltx_pipelines.utils.args import ImageConditioningInput
    from ltx_pipelines.utils.constants import DEFAULT_IMAGE_CRF

    return [ImageConditioningInput(str(tiny.image), 0, 1.0, DEFAULT_IMAGE_CRF),
            ImageConditioningInput(str(keyframe), FRAME, STRENGTH, DEFAULT_IMAGE_CRF)]


def _ours(tiny, flags: list[str], tmp_path: Path, contexts=None) -> tuple[list[torch.Tensor], str]:
    """`run --executor torch` with `flags`; the stage latents as the pipeline hands them on, and the output."""
    with our_stages(contexts or tiny.contexts) as ran:
        result = CliRunner().invoke(main, ["run", "--gpu", PROFILE, "--model", "tiny", "--artifacts",
                                           str(tiny.artifacts), "--executor", "torch", "--output",
                                           str(tmp_path / "clip.mp4"), "--prompt", "unused", *flags, *COMMON])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return ran.latents, result.output


def _assert_equal(ours, official) -> None:
    assert len(ours) == len(official) == 4
    for name, a, b in zip(NAMES, ours, official):
        assert a.shape == b.shape and a.dtype == b.dtype, f"{name}: {a.shape} {a.dtype} vs {b.shape} {b.dtype}"
        assert torch.equal(a, b), f"{name}: max |diff| {(a.float() - b.float()).abs().max().item()}"


def test_a_keyframe_past_frame_0_equals_the_official_distilled_pipeline_bit_for_bit(tiny, keyframe, official,
                                                                                    tmp_path):
    ours, output = _ours(tiny, ["--image", str(tiny.image), "--image", f"{keyframe}:{FRAME}:{STRENGTH}"], tmp_path)
    _assert_equal(ours, official)
    assert "2 image(s)" in output
    # the keyframe matters: without it the stage-2 video is elsewhere
    alone = official_distilled(tiny, _inputs(tiny, keyframe)[:1])
    assert not torch.equal(alone[2], official[2])


def _onnx(tiny, artifacts: Path, keyframe: Path) -> list[torch.Tensor]:
    """The distilled stages with the keyframe through ONNX Runtime: the bf16 transformer export made with
    --keyframes 1 (its keyframes1 graphs), the profile's encoder and upsampler graphs; the stage latents."""
    import json

    from ltx_pipelines.utils.constants import DEFAULT_IMAGE_CRF

    from ltx_trt.core.conditioning import ImageCondition
    from ltx_trt.core.plan import profile_graphs
    from ltx_trt.core.profiles import load_profile, with_keyframes, with_precision
    from ltx_trt.model.files import ModelFiles
    from ltx_trt.model.transformer_parts import checkpoint_reader
    from ltx_trt.model.weight_inputs import state_reader
    from ltx_trt.runtime import chain
    from ltx_trt.runtime.executors.onnxruntime import OnnxRuntimeExecutor
    from ltx_trt.runtime.progress import Progress
    from ltx_trt.runtime.weight_inputs import bound_weights

    profile = with_keyframes(with_precision(load_profile(PROFILE), {"transformer": "bf16"}), 1)
    files = ModelFiles(tiny.source)
    graphs = pipeline.BucketGraphs.select(profile_graphs(profile, files.dims), BUCKET, images=True, keyframes=1)
    folders = [artifacts / "tiny" / profile.folder / "onnx", tiny.artifacts / "tiny" / PROFILE / "onnx"]
    inner, others = (OnnxRuntimeExecutor(f, json.loads((f / "manifest.json").read_text())) for f in folders)
    others = bound_weights(others, graphs.all(), state_reader(files, load_profile(PROFILE).precision),
                           torch.device("cpu"))
    transformer = chain.block_chain(inner, [graphs.stage1, graphs.stage2], files.dims.transformer,
                                    checkpoint_reader(files.checkpoint), torch.bfloat16, torch.device("cpu"))
    images = (ImageCondition(tiny.image, 0, 1.0, DEFAULT_IMAGE_CRF),
              ImageCondition(keyframe, FRAME, STRENGTH, DEFAULT_IMAGE_CRF))
    with our_stages(tiny.contexts) as ran:
        pipeline.denoised_latents({}, SEED, graphs=graphs, bucket=BUCKET, config=files.config,
                                  executor=_Routed(transformer, others), device=torch.device("cpu"), cuda_graphs=False,
                                  progress=Progress(lambda line: None), done=lambda keys: None, images=images)
    return ran.latents


def test_a_keyframe_through_onnx_runtime_is_within_the_bf16_tolerance(tiny, tiny_export, keyframe, official):
    artifacts = tiny_export(PROFILE, *BF16_TRANSFORMER, "--keyframes", "1")
    ours = _onnx(tiny, artifacts, keyframe)
    assert len(ours) == 4
    for name, a, b in zip(NAMES, ours, official):
        error = relative_l2(a.float().numpy(), b.float().numpy())
        assert error <= RELATIVE_L2["bf16"], f"{name}: relative L2 {error:.2e}"


def test_a_keyframe_without_its_exported_graphs_is_a_one_line_error_naming_the_export(tiny, keyframe, tmp_path):
    result = CliRunner().invoke(main, ["run", "--gpu", PROFILE, "--model", "tiny", "--artifacts", str(tiny.artifacts),
                                       "--executor", "onnxruntime", "--output", str(tmp_path / "clip.mp4"),
                                       "--prompt", "a red fox", "--image", str(tiny.image), "--image",
                                       f"{keyframe}:{FRAME}"])
    assert result.exit_code == 1, result.output + repr(result.exception)
    error, hint = result.output.strip().splitlines()[-2:]
    assert error.startswith("error: ") and f"{PROFILE}+keyframes-1" in error, result.output
    assert hint.startswith("hint: run: ltx-trt export --gpu rtx4090 --keyframes 1 --model tiny"), result.output
    assert not (tmp_path / "clip.mp4").exists()
