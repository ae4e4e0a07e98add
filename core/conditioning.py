"""`--image PATH[:FRAME[:STRENGTH]]`: parsed and range-checked at the CLI boundary.

Pure Python: what an image condition is and which values are refused (one-line UserErrors with a hint).
The file itself is read and checked by runtime/conditioning.py. The default CRF is ltx-pipelines'
DEFAULT_IMAGE_CRF, read from it where the request is made (commands/request.py), never copied here.
Imports core.errors only.
"""

from dataclasses import dataclass
from pathlib import Path

from ltx_trt.core.errors import UserError

KEYFRAMES = "keyframes"  # the --pipeline that appends every image (KeyframeInterpolationPipeline)
MAX_KEYFRAMES = 8  # --keyframes: appended keyframe latent frames a graph variant is made for (range table)
MIN_IMAGE_SIDE = 32  # pixels: one latent pixel of the VAE; smaller images are refused, not upscaled from nothing
MAX_CRF = 51  # libx264's CRF range is 0..51 (--image-crf, checked in commands.request's range table); 0 skips the
# round trip, as ltx-pipelines' preprocess does


@dataclass(frozen=True)
class ImageCondition:
    """One conditioning image: its file, the pixel frame it shows, how strongly it is kept, the H.264 CRF."""

    path: Path
    frame: int = 0
    strength: float = 1.0
    crf: int = 0  # the H.264 round trip's CRF (0: none); run passes ltx-pipelines' DEFAULT_IMAGE_CRF unless told


def parse_image(text: str, crf: int) -> ImageCondition:
    """PATH[:FRAME[:STRENGTH]] -> an ImageCondition (frame 0, strength 1.0 by default). A path that itself
    contains ':' is taken whole when what follows its last ':' is not a number."""
    hint = "write --image PATH[:FRAME[:STRENGTH]], e.g. --image cat.png or --image cat.png:0:0.8"
    path, numbers = text, []
    for _ in range(2):
        head, sep, tail = path.rpartition(":")
        if not sep or not head or not _number(tail):
            break
        path, numbers = head, [tail, *numbers]
    if not path:
        raise UserError(f"--image {text!r} names no file", hint)
    frame = numbers[0] if numbers else "0"
    if not frame.isdigit():
        raise UserError(f"--image {text!r}: frame {frame!r} is not a whole number", hint)
    strength = float(numbers[1]) if len(numbers) > 1 else 1.0
    if not 0.0 <= strength <= 1.0:
        raise UserError(f"--image {text!r}: strength {strength} is outside [0, 1]",
                        "1.0 keeps the image as it is, 0.0 lets the model change it freely")
    return ImageCondition(Path(path), int(frame), strength, crf)


def check_frames(images: list[ImageCondition], frames: int) -> None:
    """Every image's frame inside the clip, one image per frame. Any frame is accepted, as ltx-pipelines
    accepts it: frame 0 replaces the first latent frame; a later one is appended as a keyframe whose RoPE
    positions start at that pixel frame (VideoConditionByKeyframeIndex), which needs no 8-frame alignment."""
    for image in images:
        if image.frame >= frames:
            raise UserError(f"--image {image.path}:{image.frame}: the clip has frames 0..{frames - 1}",
                            f"pick a frame below {frames}, or a longer bucket (--frames)")
    seen = {}
    for image in images:
        if image.frame in seen:
            raise UserError(f"two --image at frame {image.frame} ({seen[image.frame]} and {image.path})",
                            "pass one image per frame")
        seen[image.frame] = image.path


def appended_keyframes(images: tuple[ImageCondition, ...] | list[ImageCondition], pipeline: str | None) -> int:
    """How many latent frames of keyframe tokens a run appends to the video sequence: one per image past frame 0
    (ltx-pipelines' combined_image_conditionings), one per image in the keyframes pipeline (its
    image_conditionings_by_adding_guiding_latent appends frame 0 too)."""
    return len(images) if pipeline == KEYFRAMES else sum(1 for image in images if image.frame > 0)


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
