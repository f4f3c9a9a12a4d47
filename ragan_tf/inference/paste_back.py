"""Putting aged face crops back into the full photo.

The aged crop is warped back with the inverse of the alignment transform and
blended over the photo with a soft weight: the aligned face mask, eroded a
little and blurred, tapered to 0 at the crop's border. Where that weight is 0
(everything but the face and its soft seam) the result is byte-identical to
the photo; inside, the blend is computed in float and rounded once.

Example:
    >>> faces = FaceAligner("ffhq_aging", 256)(photo.rgb)
    >>> aged = [ager_crop(face.crop) for face in faces]          # any uint8 [S', S', 3]
    >>> result = paste_back_all(photo.rgb, list(zip(aged, faces)))
"""

import cv2
import numpy as np

from ragan_tf.faces.affine import compose_transforms, invert_transform, resize_transform, transform_points, warp_image
from ragan_tf.faces.alignment import AlignedFace

DEFAULT_ERODE = 0.03  # of the crop side
DEFAULT_FEATHER = 0.02  # Gaussian sigma, of the crop side
_MIN_WEIGHT = 1.0 / 512.0  # below this a blend cannot change a byte; it is set to exactly 0


def _check_uint8_rgb(image, name):
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{name} must be uint8 [H, W, 3] RGB; got {image.dtype} {image.shape}.")
    return image


def _edge_taper(size, ramp):
    """float32 [size, size]: 0 on the outermost pixels, rising to 1 `ramp` pixels inside."""
    index = np.arange(size, dtype=np.float32)
    distance = np.minimum(index, size - 1 - index)
    taper = np.clip(distance / max(ramp, 1.0), 0.0, 1.0)
    return np.minimum(taper[:, None], taper[None, :])


def blend_weights(mask, erode=DEFAULT_ERODE, feather=DEFAULT_FEATHER) -> np.ndarray:
    """The paste-back weight of a crop from its face mask.

    Args:
        mask: float [S, S] face mask (`AlignedFace.mask`), thresholded at 0.5.
        erode: erosion radius as a fraction of S, so the seam sits inside the face.
        feather: Gaussian blur sigma as a fraction of S: the seam's softness.

    Returns:
        float32 [S, S] in [0, 1], exactly 0 beyond the blurred edge and on the
        crop's outer pixels.
    """
    size = mask.shape[0]
    inside = (np.asarray(mask) >= 0.5).astype(np.uint8)
    radius = int(round(erode * size))
    if radius > 0:
        inside = cv2.erode(inside, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2))
    weights = inside.astype(np.float32)
    sigma = feather * size
    if sigma > 0:
        weights = cv2.GaussianBlur(weights, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
    weights *= _edge_taper(size, 2.0 * sigma)
    weights[weights < _MIN_WEIGHT] = 0.0
    return np.minimum(weights, 1.0)


def _at_size(aligned, size):
    """(photo -> crop transform, face mask, original crop) at crop side `size`."""
    if size == aligned.crop_size:
        return aligned.transform, aligned.mask, aligned.crop
    rescale = resize_transform((aligned.crop_size,) * 2, (size,) * 2)
    shrinking = size < aligned.crop_size
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return (
        compose_transforms(rescale, aligned.transform),
        cv2.resize(aligned.mask, (size, size), interpolation=interpolation),
        cv2.resize(aligned.crop, (size, size), interpolation=interpolation),
    )


def _matched_colour(aged, original, weights):
    """`aged` (float32) shifted so its per-channel mean under `weights` equals `original`'s."""
    total = float(weights.sum())
    if total <= 0.0:
        return aged
    difference = original.astype(np.float32) - aged
    return aged + (difference * weights[..., None]).sum((0, 1)) / total


def _photo_box(transform, size, photo_shape):
    """(low, high): the photo pixels [low, high) the crop can reach, clipped to the photo."""
    corners = np.array([[-0.5, -0.5], [size - 0.5, -0.5], [-0.5, size - 0.5], [size - 0.5, size - 0.5]])
    photo_corners = transform_points(invert_transform(transform), corners)
    limits = np.array([photo_shape[1], photo_shape[0]])
    low = np.clip(np.floor(photo_corners.min(0)) - 1, 0, limits).astype(int)
    high = np.clip(np.ceil(photo_corners.max(0)) + 2, 0, limits).astype(int)
    return low, high


def paste_back(
    photo_rgb,
    aged_crop,
    aligned: AlignedFace,
    erode=DEFAULT_ERODE,
    feather=DEFAULT_FEATHER,
    match_colour=False,
) -> np.ndarray:
    """Blends one aged crop back into the photo it was cut from.

    Args:
        photo_rgb: uint8 [H, W, 3], the photo `aligned` came from.
        aged_crop: uint8 [S', S', 3]: the (aged) crop, at `aligned.crop`'s
            size or any other (the transform is rescaled).
        aligned: the `AlignedFace` from `align_face` / `FaceAligner`.
        erode, feather: the seam (see `blend_weights`).
        match_colour: shift the aged face's per-channel mean colour under the
            blend weight to the original crop's, for generators that drift in
            overall colour; off by default (aging legitimately pales skin).

    Returns:
        uint8 [H, W, 3]: a new image; pixels where the blend weight is 0 are
        byte-identical to `photo_rgb`.

    Example:
        >>> face = FaceAligner("ffhq_aging", 256)(photo.rgb)[0]
        >>> result = paste_back(photo.rgb, aged_crop, face)
    """
    photo = _check_uint8_rgb(photo_rgb, "photo_rgb")
    aged = _check_uint8_rgb(aged_crop, "aged_crop")
    if aged.shape[0] != aged.shape[1]:
        raise ValueError(f"aged_crop must be square; got {aged.shape[:2]}.")
    size = aged.shape[0]
    transform, mask, original = _at_size(aligned, size)
    weights = blend_weights(mask, erode, feather)
    aged = aged.astype(np.float32)
    if match_colour:
        aged = _matched_colour(aged, original, weights)
    result = photo.copy()
    low, high = _photo_box(transform, size, photo.shape)
    if np.any(high <= low):
        return result
    photo_to_region = np.array([[1.0, 0.0, -low[0]], [0.0, 1.0, -low[1]]])
    crop_to_region = compose_transforms(photo_to_region, invert_transform(transform))
    region_size = tuple(int(value) for value in high - low)
    aged_region = warp_image(aged, crop_to_region, region_size, border_mode=cv2.BORDER_REPLICATE)
    weight = warp_image(weights, crop_to_region, region_size, cv2.BORDER_CONSTANT, cv2.INTER_LINEAR)
    weight = np.where(weight < _MIN_WEIGHT, 0.0, np.minimum(weight, 1.0))[..., None]
    region = result[low[1] : high[1], low[0] : high[0]]
    blended = np.clip(np.round(region + weight * (aged_region - region)), 0, 255).astype(np.uint8)
    result[low[1] : high[1], low[0] : high[0]] = np.where(weight > 0, blended, region)
    return result


def paste_back_all(photo_rgb, faces, **options) -> np.ndarray:
    """`paste_back` for several faces, one after the other.

    Args:
        photo_rgb: uint8 [H, W, 3].
        faces: iterable of (aged_crop, aligned_face) pairs.
        **options: `paste_back`'s keyword arguments (erode, feather, match_colour).

    Returns:
        uint8 [H, W, 3]; the input photo is not modified.
    """
    result = _check_uint8_rgb(photo_rgb, "photo_rgb").copy()
    for aged_crop, aligned in faces:
        result = paste_back(result, aged_crop, aligned, **options)
    return result
