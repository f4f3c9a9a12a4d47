"""Where pixels become model inputs.

The input pipeline can hand batches over as float32 (image in [-1, 1], mask
in [0, 1]) or, with `data.image_dtype: uint8`, as the stored uint8 bytes:
a quarter of the host-to-device traffic, and the conversion then runs on the
accelerator instead of the host CPU (on a 2-core host it is the pipeline's
largest cost). Every model calls `to_model_range` on its batch first, so
both forms train identically.
"""

from keras import backend, ops

IMAGE_DTYPES = ("float32", "uint8")


def image_to_model_range(image):
    """uint8 image -> float32 in [-1, 1]; float images pass through unchanged."""
    if backend.standardize_dtype(image.dtype) == "uint8":
        image = ops.cast(image, "float32") * (1.0 / 127.5) - 1.0
    return image


def to_model_range(image, face_mask):
    """uint8 image / mask -> float32 in [-1, 1] / [0, 1]; float inputs pass through unchanged."""
    image = image_to_model_range(image)
    if backend.standardize_dtype(face_mask.dtype) == "uint8":
        face_mask = ops.cast(face_mask, "float32") * (1.0 / 255.0)
    return image, face_mask
