"""2x3 affine transforms between image coordinates, and warping images with them.

Coordinates: (x, y) pixel coordinates with pixel centres at integer values
(the convention of dlib, OpenCV's `warpAffine` and the synthetic renders'
landmarks); an image of width W spans [-0.5, W - 0.5]. Transforms are 2x3
float64 affine matrices `M` mapping a point p to `M[:, :2] @ p + M[:, 2]`.
"""

import cv2
import numpy as np


def transform_points(matrix, points) -> np.ndarray:
    """Applies a 2x3 affine matrix to float [N, 2] points."""
    matrix = np.asarray(matrix, np.float64)
    return np.asarray(points, np.float64) @ matrix[:, :2].T + matrix[:, 2]


def compose_transforms(outer, inner) -> np.ndarray:
    """The 2x3 matrix of `outer` applied after `inner`."""
    outer, inner = np.asarray(outer, np.float64), np.asarray(inner, np.float64)
    return np.column_stack([outer[:, :2] @ inner[:, :2], outer[:, :2] @ inner[:, 2] + outer[:, 2]])


def invert_transform(matrix) -> np.ndarray:
    """The inverse 2x3 affine matrix."""
    return cv2.invertAffineTransform(np.asarray(matrix, np.float64))


def resize_transform(from_size, to_size) -> np.ndarray:
    """The 2x3 matrix taking pixel coordinates of a (width, height) image to those of
    the same image resized to `to_size` (pixel centres at integers: u = (x + 0.5) s - 0.5)."""
    scale_x, scale_y = to_size[0] / from_size[0], to_size[1] / from_size[1]
    return np.array([[scale_x, 0.0, 0.5 * scale_x - 0.5], [0.0, scale_y, 0.5 * scale_y - 0.5]])


def _translation(dx, dy):
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])


def _transform_scale(matrix):
    return float(np.sqrt(abs(np.linalg.det(np.asarray(matrix, np.float64)[:, :2]))))


def _needed_source_box(image_shape, matrix, size, margin):
    """[x0, x1) x [y0, y1) of the source that the warp reads, reflections included."""
    width, height = size
    corners = np.array([[-0.5, -0.5], [width - 0.5, -0.5], [-0.5, height - 0.5], [width - 0.5, height - 0.5]])
    source = transform_points(invert_transform(matrix), corners)
    low, high = source.min(0) - margin, source.max(0) + margin
    limits = np.array([image_shape[1], image_shape[0]], np.float64)
    # Parts beyond an edge are read back, mirrored, from inside it.
    high = np.maximum(high, np.where(low < 0, -low, high))
    low = np.minimum(low, np.where(high > limits, 2 * limits - high, low))
    low = np.clip(np.floor(low), 0, limits).astype(int)
    high = np.clip(np.ceil(high) + 1, 0, limits).astype(int)
    return low, high


def warp_image(image, matrix, size, border_mode=cv2.BORDER_REFLECT, interpolation=cv2.INTER_CUBIC):
    """`cv2.warpAffine` that does not alias when it shrinks.

    Only the part of `image` the output needs is read; when the transform
    shrinks by more than 1.25x that part is first reduced with INTER_AREA to
    the output's scale, so the remaining warp is a rotation at about 1:1.

    Args:
        image: [H, W] or [H, W, C] array (uint8 or float32).
        matrix: 2x3, source pixel coordinates -> output pixel coordinates.
        size: output (width, height).
        border_mode: an OpenCV border mode for pixels outside the source.
        interpolation: OpenCV flag; default INTER_CUBIC (sharper than bilinear at
            about 1:1; uint8 results saturate, float ones may overshoot slightly).

    Returns:
        The warped image, [height, width(, C)], same dtype.
    """
    matrix = np.asarray(matrix, np.float64)
    scale = _transform_scale(matrix)
    low, high = _needed_source_box(image.shape, matrix, size, margin=2.0 / min(scale, 1.0) + 2.0)
    if np.all(high > low):
        image = image[low[1] : high[1], low[0] : high[0]]
        matrix = compose_transforms(matrix, _translation(*low))
    if scale < 0.8:
        source_size = (image.shape[1], image.shape[0])
        small_size = (max(1, round(source_size[0] * scale)), max(1, round(source_size[1] * scale)))
        image = cv2.resize(image, small_size, interpolation=cv2.INTER_AREA)
        matrix = compose_transforms(matrix, invert_transform(resize_transform(source_size, small_size)))
    return cv2.warpAffine(image, matrix, tuple(size), flags=interpolation, borderMode=border_mode)
