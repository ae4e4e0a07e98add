"""`--image PATH[:FRAME[:STRENGTH]]` and `--image-crf`, checked at the boundary (run, the API, `--prompts`):
the values, the frames against the bucket, and every file read as an image, before any model work."""

from ltx_trt.commands.request import _import_ltx_pipelines
from ltx_trt.core.conditioning import ImageCondition, check_frames, parse_image
from ltx_trt.core.errors import UserError
from ltx_trt.core.profiles import Bucket


def image_conditions(values: tuple[str, ...], crf: int | None, bucket: Bucket) -> tuple[ImageCondition, ...]:
    """--image PATH[:FRAME[:STRENGTH]] (repeatable) and --image-crf (default: ltx-pipelines' DEFAULT_IMAGE_CRF),
    checked before any model work (the CRF's range by check_numbers): the values, the frames against the bucket,
    and every file read as an image."""
    if not values:
        if crf is not None:
            raise UserError("--image-crf without --image", "pass --image PATH with it, or drop --image-crf")
        return ()
    if crf is None:
        _import_ltx_pipelines()
        from ltx_pipelines.utils.constants import DEFAULT_IMAGE_CRF

        crf = DEFAULT_IMAGE_CRF
    images = tuple(parse_image(value, crf) for value in values)
    check_frames(list(images), bucket.frames)
    from ltx_trt.runtime.conditioning import read_image

    for image in images:
        read_image(image.path)
    return images
