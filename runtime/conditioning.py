"""Image conditioning as ltx-pipelines 1.0.0 does it: load, H.264 round trip, resize + crop, encode, place.

The image is decoded here (every file read is checked: a one-line error for a missing, unreadable or too
small image; EXIF orientation applied, any PIL mode made RGB), then ltx-pipelines' own `preprocess` (the
single-frame H.264 round trip at the CRF), `resize_and_center_crop` and `normalize_latent` run as in its
`load_image_conditioning`; the video encoder graph encodes it; ltx-core's `VideoConditionByLatentIndex`
places the latent, and ltx-core's latent tools + ltx-pipelines' `state_with_conditionings` build the state
(latent, denoise mask, clean latent) a stage starts from. Imports torch, PIL, ltx-core / ltx-pipelines (on
first use) and ltx_trt.core / runtime only.
"""

from pathlib import Path
from typing import Callable

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


def load_image(condition: ImageCondition, grid: Grid, dtype: torch.dtype, device) -> torch.Tensor:
    """(1, 3, 1, 32h, 32w) in [-1, 1]: what ltx-pipelines' load_image_conditioning returns for the image."""
    from ltx_trt.core.compat import install_torchaudio_placeholder

    install_torchaudio_placeholder()
    from ltx_pipelines.utils.media_io import normalize_latent, preprocess, resize_and_center_crop

    image = preprocess(image=read_image(condition.path), crf=condition.crf)
    image = torch.tensor(image, dtype=torch.float32, device=device)
    image = resize_and_center_crop(image, grid.height * 32, grid.width * 32)
    return normalize_latent(image, device, dtype)


def conditionings(images: list[ImageCondition], grid: Grid, encode: Callable[[torch.Tensor], torch.Tensor],
                  dtype: torch.dtype, device) -> list:
    """ltx-core's conditioning items of one stage (`grid`: its latent grid), as combined_image_conditionings
    makes them; `encode` runs the stage's video encoder graph. Frame 0 replaces the first latent frame."""
    from ltx_core.conditioning import VideoConditionByLatentIndex

    items = []
    for image in images:
        if image.frame != 0:
            raise ValueError("keyframes (frame > 0) are refused at the boundary (core/conditioning.py)")
        latent = encode(load_image(image, grid, dtype, device))
        items.append(VideoConditionByLatentIndex(latent=latent, strength=image.strength, latent_idx=0))
    return items


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
