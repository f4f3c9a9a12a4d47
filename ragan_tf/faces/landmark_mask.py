"""A soft face mask from landmarks, for when no face-parsing network is at hand."""

import cv2
import numpy as np

from ragan_tf.faces.landmarks import five_point_landmarks


def _outline_from_68(points, forehead):
    """The 68 points plus the brows pushed up by `forehead` eye-to-chin distances."""
    up = points[36:48].mean(0) - points[8]  # chin -> eyes
    return np.concatenate([points, points[17:27] + forehead * up]), float(np.hypot(*up))


def _outline_from_5(points, forehead):
    """An ellipse standing in for the face outline when only 5 points are known
    (typical adult proportions: chin ~1.9 eye-to-mouth distances below the eyes)."""
    eye_avg = points[:2].mean(0)
    eye_to_eye = points[1] - points[0]
    eye_to_mouth = points[3:].mean(0) - eye_avg
    eye_to_chin = 1.9 * eye_to_mouth
    top, bottom = -forehead * eye_to_chin, eye_to_chin
    centre, half_height = eye_avg + (top + bottom) / 2, (bottom - top) / 2
    angles = np.linspace(0.0, 2.0 * np.pi, 48, endpoint=False)
    half_width = 1.1 * eye_to_eye
    outline = centre + np.cos(angles)[:, None] * half_width + np.sin(angles)[:, None] * half_height
    return outline, float(np.hypot(*eye_to_chin))


def _signed_distance(inside):
    """Pixels to the region's edge: positive inside, negative outside."""
    inside = inside.astype(np.uint8)
    distance_in = cv2.distanceTransform(inside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    distance_out = cv2.distanceTransform(1 - inside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return distance_in - distance_out


def _smoothstep(t):
    return t * t * (3.0 - 2.0 * t)


def landmark_face_mask(landmarks, crop_size, forehead=0.6, feather=0.12) -> np.ndarray:
    """A soft face mask from landmarks, for when no face-parsing network is at hand.

    The convex hull of dlib's 68 points plus the brows pushed up by `forehead`
    times the eye-to-chin distance (covering the forehead to about the hair
    line), filled, then feathered by a smooth ramp across its edge. (RAGAN's
    training masks from face parsing also include hair and neck; this one is
    the face proper.)

    Args:
        landmarks: [68, 2] (or [5, 2]: an ellipse of typical proportions is used)
            in crop coordinates.
        crop_size: side S of the mask.
        forehead: how far above the brows the mask reaches, in eye-to-chin distances.
        feather: width of the 1 -> 0 ramp, in eye-to-chin distances, centred on the hull.

    Returns:
        float32 [S, S] in [0, 1]: 1 inside the face, 0 beyond half the ramp
        width outside the hull, smooth in between.
    """
    points = np.asarray(landmarks, np.float64)
    if len(points) == 68:
        outline, eye_to_chin = _outline_from_68(points, forehead)
    else:
        outline, eye_to_chin = _outline_from_5(five_point_landmarks(points), forehead)
    hull = cv2.convexHull(np.round(outline * 16).astype(np.int32))
    filled = np.zeros((crop_size, crop_size), np.uint8)
    cv2.fillConvexPoly(filled, hull, 1, lineType=cv2.LINE_8, shift=4)
    ramp = max(feather * eye_to_chin, 1.0)
    return _smoothstep(np.clip(_signed_distance(filled) / ramp + 0.5, 0.0, 1.0)).astype(np.float32)
