"""`ltx-trt run --image` against ltx-pipelines' own pipeline objects called with `images=`, on the tiny model.

Same checkpoint, image, seed and text contexts on both sides (text contexts patched in, as in
tests/e2e/test_dev_pipelines.py: the official ledger cannot load the tiny Gemma); the CPU. Compared: both
stages' latents, bit for bit with the torch executor (the official side encodes with ltx-core's VideoEncoder
from its ledger, runs its own image loading, H.264 round trip and conditioning items), and within the bf16
tolerance through ONNX Runtime (the exported video encoder, upsampler and bf16 transformer graphs, the runtime's
stage code). One `run --image` ends in a playable mp4.
"""

import json
import types
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from ltx_trt.cli import main
from ltx_trt.core.profiles import load_profile
from ltx_trt.core.source import tiny_source
from ltx_trt.runtime import pipeline
from tests.official import official_stages, our_stages
from tests.reference import RELATIVE_L2, relative_l2
from tests.runtime.test_sampler_parity import BF16_TRANSFORMER

PROFILE = "rtx4090"
BUCKET = load_profile(PROFILE).buckets[0]
SEED, STRENGTH = 10, 0.8
# bf16, as the official pipeline runs (the profile's transformer is FP8, its audio decoder fp32)
COMMON = ("--precision", "transformer=bf16", "--precision", "audio_decoder=bf16", "--seed", str(SEED))


def write_test_image(path: Path, width: int = 200, height: int = 120) -> Path:
    """A smooth colour image that is not the bucket's shape (so resize + centre crop matter); PNG, a few KB."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height)], -1).astype(np.uint8)
    Image.fromarray(rgb).save(path)
    return path


@pytest.fixture(scope="module")
def tiny(tiny_export, tmp_path_factory):
    artifacts = tiny_export(PROFILE)
    bf16_artifacts = tiny_export(PROFILE, *BF16_TRANSFORMER)  # shared with tests/runtime/test_sampler_parity.py
    image = write_test_image(tmp_path_factory.mktemp("image") / "gradient.png")
    generator = torch.Generator().manual_seed(1)
    contexts = [{"video_context": torch.randn(1, 1024, 64, generator=generator).bfloat16(),
                 "audio_context": torch.randn(1, 1024, 32, generator=generator).bfloat16()}]
    return types.SimpleNamespace(artifacts=artifacts, bf16_artifacts=bf16_artifacts, source=tiny_source(artifacts),
                                 image=image, contexts=contexts)


def official_distilled(tiny, images: list) -> list[torch.Tensor]:
    """DistilledPipeline called with `images=` (ltx-pipelines' ImageConditioningInput) as its CLI calls it; the
    stage latents recorded (after upstream's clear_conditioning)."""
    from ltx_pipelines import distilled

    with official_stages(distilled, tiny.contexts) as recorded:
        src = tiny.source
        pipe = distilled.DistilledPipeline(distilled_checkpoint_path=str(src.checkpoint), gemma_root=str(src.gemma),
                                           spatial_upsampler_path=str(src.upsampler), loras=[],
                                           device=torch.device("cpu"))
        with torch.inference_mode():
            pipe(prompt="unused", seed=SEED, height=BUCKET.height, width=BUCKET.width, num_frames=BUCKET.frames,
                 frame_rate=float(BUCKET.fps), images=images)
    return recorded


def _ours(tiny, executor: str, tmp_path: Path) -> list[torch.Tensor]:
    with our_stages(tiny.contexts) as ran:
        result = CliRunner().invoke(main, ["run", "--gpu", PROFILE, "--model", "tiny", "--artifacts",
                                           str(tiny.artifacts), "--executor", executor, "--output",
                                           str(tmp_path / "clip.mp4"), "--prompt", "unused",
                                           "--image", f"{tiny.image}:0:{STRENGTH}", *COMMON])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "image" in result.output and "video encoder" in result.output
    return ran.latents


class _Routed:
    """The ONNX Runtime executors of two export folders: the bf16 transformer's chain, the profile's other graphs."""

    def __init__(self, transformer, others) -> None:
        self.transformer, self.others = transformer, others

    def run(self, key, inputs, outputs):
        (self.transformer if key.startswith("transformer.") else self.others).run(key, inputs, outputs)

    def release(self, keys):
        self.transformer.release(keys)
        self.others.release(keys)


def _onnx(tiny) -> list[torch.Tensor]:
    """The distilled stages with --image through ONNX Runtime: the tiny transformer exported in bf16 (as the
    official pipeline runs it; the profile's is FP8), the video encoder and upsampler graphs of the profile's
    export (bf16 there), runtime.pipeline's own stage code; the stage latents."""
    from ltx_trt.core.conditioning import ImageCondition
    from ltx_trt.core.plan import profile_graphs
    from ltx_trt.core.profiles import with_precision
    from ltx_trt.model.files import ModelFiles
    from ltx_trt.model.transformer_parts import checkpoint_reader
    from ltx_trt.model.weight_inputs import state_reader
    from ltx_trt.runtime import chain
    from ltx_trt.runtime.executors.onnxruntime import OnnxRuntimeExecutor
    from ltx_trt.runtime.progress import Progress
    from ltx_trt.runtime.weight_inputs import bound_weights
    from ltx_pipelines.utils.constants import DEFAULT_IMAGE_CRF

    profile = with_precision(load_profile(PROFILE), {"transformer": "bf16"})
    files = ModelFiles(tiny.source)
    graphs = pipeline.BucketGraphs.select(profile_graphs(profile, files.dims), BUCKET, images=True)
    folders = [tiny.bf16_artifacts / "tiny" / profile.folder / "onnx", tiny.artifacts / "tiny" / PROFILE / "onnx"]
    inner, others = (OnnxRuntimeExecutor(f, json.loads((f / "manifest.json").read_text())) for f in folders)
    # the encoder's and upsampler's weights are their graphs' inputs, bound from the tiny files as `run` binds them
    others = bound_weights(others, graphs.all(), state_reader(files, load_profile(PROFILE).precision),
                           torch.device("cpu"))
    transformer = chain.block_chain(inner, [graphs.stage1, graphs.stage2], files.dims.transformer,
                                    checkpoint_reader(files.checkpoint), torch.bfloat16, torch.device("cpu"))
    with our_stages(tiny.contexts) as ran:
        pipeline.denoised_latents({}, SEED, graphs=graphs, bucket=BUCKET, config=files.config,
                                  executor=_Routed(transformer, others), device=torch.device("cpu"), cuda_graphs=False,
                                  progress=Progress(lambda line: None), done=lambda keys: None,
                                  images=(ImageCondition(tiny.image, 0, STRENGTH, DEFAULT_IMAGE_CRF),))
    return ran.latents


NAMES = ["stage-1 video", "stage-1 audio", "stage-2 video", "stage-2 audio"]


@pytest.fixture(scope="module")
def official(tiny):
    from ltx_pipelines.utils.args import ImageConditioningInput
    from ltx_pipelines.utils.constants import DEFAULT_IMAGE_CRF

    return official_distilled(tiny, [ImageConditioningInput(str(tiny.image), 0, STRENGTH, DEFAULT_IMAGE_CRF)])


def test_image_to_video_equals_the_official_distilled_pipeline_bit_for_bit(tiny, official, tmp_path):
    ours = _ours(tiny, "torch", tmp_path)
    assert len(ours) == len(official) == 4
    for name, a, b in zip(NAMES, ours, official):
        assert a.shape == b.shape and a.dtype == b.dtype, f"{name}: {a.shape} {a.dtype} vs {b.shape} {b.dtype}"
        assert torch.equal(a, b), f"{name}: max |diff| {(a.float() - b.float()).abs().max().item()}"
    assert ours[2].float().std() > 0.1  # a real trajectory, not zeros


def test_image_to_video_through_onnx_runtime_is_within_the_bf16_tolerance(tiny, official):
    ours = _onnx(tiny)
    assert len(ours) == 4
    for name, a, b in zip(NAMES, ours, official):
        error = relative_l2(a.float().numpy(), b.float().numpy())
        assert error <= RELATIVE_L2["bf16"], f"{name}: relative L2 {error:.2e}"


def test_run_with_an_image_on_the_tiny_model_writes_a_playable_mp4(tiny, tmp_path):
    output = tmp_path / "animated.mp4"
    result = CliRunner().invoke(main, ["run", "--gpu", PROFILE, "--model", "tiny", "--artifacts", str(tiny.artifacts),
                                       "--executor", "onnxruntime", "--output", str(output), "--prompt", "a red fox",
                                       "--image", str(tiny.image)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    with av.open(str(output)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == BUCKET.frames
