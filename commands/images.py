"""`--image PATH[:FRAME[:STRENGTH]]` and `--image-crf`, checked at the boundary (run, the API, `--prompts`):
the values, the frames against the bucket, and every file read as an image, before any model work."""

from ltx_trt.commands.request import _import_ltx_pipelines
from ltx_trt.core.conditioning import KEYFRAMES, MAX_KEYFRAMES, ImageCondition, appended_keyframes, check_frames, parse_image
from ltx_trt.core.errors import UserError
from ltx_trt.core.profiles import Bucket, Profile, with_keyframes


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


def keyframe_profile(profile: Profile, images: tuple[ImageCondition, ...], pipeline: str) -> Profile:
    """The profile whose transformer graphs have room for the keyframes this run appends (core.plan: a variant per
    appended-frame count, in its own artifacts folder); the keyframes pipeline needs at least one image."""
    if pipeline == KEYFRAMES and not images:
        raise UserError("--pipeline keyframes without --image",
                        "pass the keyframes, e.g. --image first.png --image last.png:120")
    count = appended_keyframes(images, pipeline)
    if count > MAX_KEYFRAMES:
        raise UserError(f"{count} keyframes: graphs are made for at most {MAX_KEYFRAMES}",
                        f"pass at most {MAX_KEYFRAMES} --image past frame 0 (with --pipeline keyframes: in all)")
    return with_keyframes(profile, count)


def check_keyframes(profile: Profile, images: tuple[ImageCondition, ...], pipeline: str) -> None:
    """A clip of an opened pipeline (the API, `serve`) appends no keyframe, or as many as its profile's graphs
    were opened for."""
    count = keyframe_profile(profile, images, pipeline).keyframes
    if count not in (0, profile.keyframes):
        raise UserError(f"this clip appends {count} keyframe(s) (images past frame 0, or every image with the "
                        f"keyframes pipeline); the pipeline was opened for {profile.keyframes or 'none'}",
                        f"open it with keyframes={count} (ltx_trt.api.open_pipeline)")
