"""Image conditioning as ltx-pipelines 1.0.0 does it: load, H.264 round trip, resize + crop, encode, place.

The image is decoded here (every file read is checked: a one-line error for a missing, unreadable or too
small image; EXIF orientation applied, any PIL mode made RGB), then ltx-pipelines' own
`combined_image_conditionings` loads it (`load_image_conditioning`: the single-frame H.264 round trip at the
CRF, resize + centre crop, normalisation), runs the video encoder graph on it and makes ltx-core's
conditioning items; ltx-core's latent tools + ltx-pipelines' `state_with_conditionings` build the state
(latent, denoise mask, clean latent) a stage starts from. Imports torch, PIL, ltx-core / ltx-pipelines (on
first use) and ltx_trt.core / runtime only.
"""

import dataclasses
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import torch

from ltx_trt.core.conditioning import MIN_IMAGE_SIDE, ImageCondition
from ltx_trt.core.errors import UserError
from ltx_trt.core.shapes import Grid

IMAGE_FORMATS = ("JPEG", "PNG", "WEBP")  # what PIL may decode for --image


def read_image(path: Path):
    """The image at `path` as an (H, W, 3) uint8 array, upright (EXIF orientation applied), or a UserError."""
    import numpy as np
    from PIL import Image, ImageOps, UnidentifiedImageError

    hint = "pass a JPEG, PNG or WebP file"
    try:
        with Image.open(path, formats=IMAGE_FORMATS) as image:
            image = ImageOps.exif_transpose(image).convert("RGB")
    except FileNotFoundError:
        raise UserError(f"--image {path}: no such file", hint) from None
    except UnidentifiedImageError:
        raise UserError(f"--image {path}: not a JPEG, PNG or WebP image", hint) from None
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise UserError(f"--image {path}: cannot be read ({str(error).splitlines()[0]})", hint) from None
    if min(image.size) < MIN_IMAGE_SIDE:
        raise UserError(f"--image {path} is {image.width}x{image.height}",
                        f"pass an image at least {MIN_IMAGE_SIDE} pixels on each side")
    return np.asarray(image, dtype=np.uint8)


@contextmanager
def upright(images: tuple[ImageCondition, ...]) -> Iterator[tuple[ImageCondition, ...]]:
    """`images` with each file read by `read_image` (checked, EXIF orientation applied, RGB) and written as an
    upright 8-bit RGB PNG in a temporary folder that lives as long as the context: what upstream then decodes,
    once per stage. Its decode_image ignores EXIF orientation and mishandles greyscale or palette files; the
    user's file is read once, by the checked reader."""
    import tempfile

    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="ltx-trt-image-") as folder:
        copies = []
        for i, image in enumerate(images):
            path = Path(folder) / f"{i}.png"
            # lossless, uncompressed (a 1080p PNG at the default level takes ~1 s to write)
            Image.fromarray(read_image(image.path)).save(path, compress_level=0)
            copies.append(dataclasses.replace(image, path=path))
        yield tuple(copies)


def conditionings(images: list[ImageCondition], grid: Grid, encode: Callable[[torch.Tensor], torch.Tensor],
                  dtype: torch.dtype, device, append_all: bool = False) -> list:
    """ltx-core's conditioning items of one stage (`grid`: its latent grid), made by ltx-pipelines'
    combined_image_conditionings itself (load_image_conditioning: decode, H.264 round trip at the CRF, resize
    + centre crop, normalise; then `encode`, the stage's video encoder graph; frame 0 replaces the first latent
    frame, a later one is appended as a keyframe). `append_all`: every image appended, frame 0 too, by
    image_conditionings_by_adding_guiding_latent (KeyframeInterpolationPipeline). `images`: `upright`'s copies."""
    from ltx_trt.core.compat import install_torchaudio_placeholder

    install_torchaudio_placeholder()
    from ltx_pipelines.utils.args import ImageConditioningInput
    from ltx_pipelines.utils.helpers import combined_image_conditionings, image_conditionings_by_adding_guiding_latent

    make = image_conditionings_by_adding_guiding_latent if append_all else combined_image_conditionings
    inputs = [ImageConditioningInput(str(i.path), i.frame, i.strength, i.crf) for i in images]
    return make(images=inputs, height=grid.height * 32, width=grid.width * 32, video_encoder=encode, dtype=dtype,
                device=device)


def conditioned_state(items: list, grid: Grid, fps: int, initial: torch.Tensor | None, dtype: torch.dtype, device):
    """ltx-core's patchified video LatentState of a stage with `items` applied (before noising): `latent` and
    `clean_latent` (1, N, 128), `denoise_mask` (1, N, 1) float32. initial: the (1, N, 128) tokens the stage
    starts from (stage 2: the upsampled video), None for an empty latent."""
    from ltx_core.components.patchifiers import VideoLatentPatchifier
    from ltx_core.tools import VideoLatentTools
    from ltx_core.types import VideoLatentShape
    from ltx_pipelines.utils.helpers import state_with_conditionings

    shape = VideoLatentShape(1, 128, grid.frames, grid.height, grid.width)
    patchifier = VideoLatentPatchifier(patch_size=1)
    tools = VideoLatentTools(patchifier, shape, float(fps))
    initial = None if initial is None else patchifier.unpatchify(initial, output_shape=shape)
    return state_with_conditionings(tools.create_initial_state(device, dtype, initial), items, tools)


def blend_(x0: torch.Tensor, mask: torch.Tensor, clean: torch.Tensor) -> None:
    """x0 = x0 * mask + clean * (1 - mask) in place, by ltx-pipelines' post_process_latent (the loop's blend
    of the denoised latent with the conditioning). x0, clean: (1, N, C); mask: (1, N, 1) float32."""
    from ltx_pipelines.utils.helpers import post_process_latent

    x0.copy_(post_process_latent(x0, mask, clean))
