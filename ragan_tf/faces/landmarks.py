"""Face landmark conventions: the 5-point order, and how it follows from dlib's 68 points.

Landmarks are float (x, y) pixel coordinates with pixel centres at integer
values (the convention of dlib, OpenCV's `warpAffine` and the synthetic
renders' landmarks). The 5-point order is left eye, right eye, nose tip, left
mouth corner, right mouth corner, "left" meaning image left.
"""

import numpy as np


def five_point_landmarks(points) -> np.ndarray:
    """Eye centres, nose tip and mouth corners from 5 or dlib's 68 landmarks.

    Args:
        points: float [5, 2] (left eye, right eye, nose tip, left mouth corner,
            right mouth corner; "left" = image left) or dlib's [68, 2].

    Returns:
        float64 [5, 2] in that order; for 68 points the eyes are the means of
        points 36-41 and 42-47, the nose tip point 30, the mouth corners 48 and 54.
    """
    points = np.asarray(points, np.float64)
    if points.shape == (5, 2):
        return points.copy()
    if points.shape == (68, 2):
        return np.stack([points[36:42].mean(0), points[42:48].mean(0), points[30], points[48], points[54]])
    raise ValueError(f"landmarks must be [5, 2] or dlib's [68, 2] (x, y) points; got shape {points.shape}.")
