"""Image-batch argument handling shared by the evaluation models."""

import numpy as np


def as_uint8_batch(images):
    """`images` as a uint8 [N, H, W, 3] array (a single [H, W, 3] image gets a batch axis)."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected uint8 [N, H, W, 3] RGB images; got {images.dtype} {images.shape}.")
    return images


def image_list(images):
    """uint8 [H, W, 3] images from a [N, H, W, 3] array, one [H, W, 3] image or a list of
    images of any sizes."""
    if isinstance(images, (list, tuple)):
        return [as_uint8_batch(image)[0] for image in images]
    return list(as_uint8_batch(images))
