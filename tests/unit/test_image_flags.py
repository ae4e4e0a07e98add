"""`run --image PATH[:FRAME[:STRENGTH]]` and `--image-crf` (issue 10 items 1 and 4).

Every bad value or file is a two-line error through the CLI before any model work (commands.run.run is
replaced, as in test_pipeline_flags), and nothing is written. Good images reach the request with ltx-pipelines'
DEFAULT_IMAGE_CRF; the conditioning items equal ltx-pipelines' combined_image_conditionings on the same file
(EXIF-less RGB), and an EXIF orientation is applied.
"""

import numpy as np
import pytest
import torch
from PIL import Image

from ltx_trt.core.compat import install_torchaudio_placeholder
from ltx_trt.core.conditioning import ImageCondition
from ltx_trt.core.shapes import Grid
from ltx_trt.runtime.conditioning import conditionings, read_image, upright
from tests.e2e.test_image_conditioning import write_test_image
from tests.unit.test_pipeline_flags import DISTILLED_FILE, _guided, _one_line_error, _run, files, runs  # noqa: F401

install_torchaudio_placeholder()
from ltx_pipelines.utils.constants import DEFAULT_IMAGE_CRF  # noqa: E402
from ltx_core.conditioning import VideoConditionByLatentIndex  # noqa: E402
from ltx_pipelines.utils.args import ImageConditioningInput  # noqa: E402
from ltx_pipelines.utils.helpers import combined_image_conditionings  # noqa: E402


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    write_test_image(folder / "ok.png")
    Image.open(folder / "ok.png").save(folder / "ok.jpg")
    Image.open(folder / "ok.png").save(folder / "ok.webp")
    write_test_image(folder / "small.png", 31, 40)
    (folder / "notes.png").write_text("not an image")
    (folder / "cut.png").write_bytes((folder / "ok.png").read_bytes()[:60])
    return folder


def test_images_reach_the_request_with_the_official_crf(files, runs, images):
    args = ["--image", str(images / "ok.png"), "--image", f"{images / 'ok.jpg'}:0:0.5"]
    result = _run(files, DISTILLED_FILE, *args[:2])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert runs[0].images == (ImageCondition(images / "ok.png", 0, 1.0, DEFAULT_IMAGE_CRF),)
    result = _run(files, DISTILLED_FILE, "--image", f"{images / 'ok.webp'}:0:0.5", "--image-crf", "0")
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert runs[1].images == (ImageCondition(images / "ok.webp", 0, 0.5, 0),)


def test_keyframes_past_frame_0_pick_the_transformer_graphs_for_that_many_appended_frames(files, runs, images):
    result = _run(files, DISTILLED_FILE, "--image", str(images / "ok.png"), "--image", f"{images / 'ok.jpg'}:60:0.9",
                  "--image", f"{images / 'ok.webp'}:120")
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert [(i.frame, i.strength) for i in runs[0].images] == [(0, 1.0), (60, 0.9), (120, 1.0)]
    assert runs[0].profile.keyframes == 2 and runs[0].profile.folder == "rtx4090+keyframes-2"
    assert _run(files, DISTILLED_FILE, "--image", str(images / "ok.png")).exit_code == 0
    assert runs[1].profile.keyframes == 0 and runs[1].profile.folder == "rtx4090"


def test_the_keyframes_pipeline_appends_every_image_and_needs_one(files, runs, images):
    result = _guided(files, "--image", str(images / "ok.png"), "--image", f"{images / 'ok.jpg'}:120",
                     pipeline="keyframes")
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert runs[0].pipeline == "keyframes" and runs[0].profile.keyframes == 2  # frame 0 appended too
    _one_line_error(_guided(files, pipeline="keyframes"), "--pipeline keyframes without --image")
    assert len(runs) == 1


def test_more_keyframes_than_graphs_are_made_for_is_a_one_line_error(files, runs, images):
    many = [arg for frame in range(1, 10) for arg in ("--image", f"{images / 'ok.png'}:{frame}")]
    _one_line_error(_run(files, DISTILLED_FILE, *many), "9 keyframes: graphs are made for at most 8")
    assert runs == []


BAD = [
    (["--image", "{d}/missing.png"], "no such file"),
    (["--image", "{d}/notes.png"], "not a JPEG, PNG or WebP image"),
    (["--image", "{d}/cut.png"], "cannot be read"),
    (["--image", "{d}/small.png"], "is 31x40"),
    (["--image", "{d}/ok.png:0:1.5"], "strength 1.5 is outside [0, 1]"),
    (["--image", "{d}/ok.png:0:-0.1"], "strength -0.1 is outside [0, 1]"),
    (["--image", "{d}/ok.png:121"], "the clip has frames 0..120"),
    (["--image", "{d}/ok.png:16", "--image", "{d}/ok.jpg:16:0.5"], "two --image at frame 16"),
    (["--image", "{d}/ok.png", "--image", "{d}/ok.jpg"], "two --image at frame 0"),
    (["--image", "{d}/ok.png", "--image-crf", "52"], "--image-crf 52 is out of range (0 to 51)"),
    (["--image", "{d}/ok.png", "--image-crf", "-1"], "--image-crf -1 is out of range (0 to 51)"),
    (["--image-crf", "20"], "--image-crf without --image"),
]


@pytest.mark.parametrize("args, needle", BAD)
def test_bad_images_are_one_line_errors_and_nothing_is_written(files, runs, images, args, needle):
    _one_line_error(_run(files, DISTILLED_FILE, *[a.format(d=images) for a in args]), needle)
    assert runs == [] and not (files / "out.mp4").exists()


def _encode(image: torch.Tensor) -> torch.Tensor:
    """A stand-in video encoder: (1, 3, 1, 32h, 32w) -> (1, 128, 1, h, w), every pixel of the image counts."""
    pooled = torch.nn.functional.avg_pool3d(image.float(), (1, 32, 32))
    return pooled.repeat(1, 43, 1, 1, 1)[:, :128].to(image.dtype)


@pytest.mark.parametrize("name, crf", [("ok.png", DEFAULT_IMAGE_CRF), ("ok.png", 0), ("ok.webp", DEFAULT_IMAGE_CRF)])
def test_conditioning_items_equal_ltx_pipelines_combined_image_conditionings(images, name, crf):
    grid = Grid(2, 8, 12, 1)
    with upright((ImageCondition(images / name, 0, 0.7, crf),)) as copies:  # as the pipeline reads it
        ours = conditionings(list(copies), grid, _encode, torch.bfloat16, "cpu")
    official = combined_image_conditionings([ImageConditioningInput(str(images / name), 0, 0.7, crf)], 256, 384,
                                             _encode, torch.bfloat16, torch.device("cpu"))
    assert [type(i) for i in ours] == [type(i) for i in official] == [VideoConditionByLatentIndex]
    assert (ours[0].strength, ours[0].latent_idx) == (0.7, 0)
    assert ours[0].latent.shape == (1, 128, 1, 8, 12) and torch.equal(ours[0].latent, official[0].latent)


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((40, 64, 3), np.uint8)
    pixels[:, :32] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: shown turned 90 degrees clockwise
    Image.fromarray(pixels).save(tmp_path / "turned.jpg", exif=exif, quality=100)
    shown = read_image(tmp_path / "turned.jpg")
    assert shown.shape == (64, 40, 3)
    assert shown[:32].mean() > 200 and shown[32:].mean() < 50  # the white half is now on top
