"""Finding faces in photos and cutting out aligned crops the generator understands.

A generator trained on FFHQ-Aging only works on faces cropped the way
FFHQ-Aging was cropped: eyes level, at a fixed height and scale. This module
reproduces that recipe (NVlabs ffhq-dataset's `recreate_aligned_images`,
generalised by `AlignmentSpec`), finds faces with dlib (HOG detector, CNN
fallback and confirmation, 68-point shape predictor), builds a soft face mask
from the landmarks, and returns everything `paste_back` needs to put an aged
crop back into the photo.

Coordinates: (x, y) pixel coordinates with pixel centres at integer values
(the convention of dlib, OpenCV's `warpAffine` and the synthetic renders'
landmarks); a crop of side S spans [-0.5, S - 0.5]. Transforms are 2x3
float64 affine matrices `M` mapping a point p to `M[:, :2] @ p + M[:, 2]`.

Example:
    >>> aligner = FaceAligner("ffhq_aging", 256)
    >>> faces = aligner(photo.rgb)   # one AlignedFace per face, left to right
    >>> faces[0].crop.shape, faces[0].mask.shape
    ((256, 256, 3), (256, 256))
"""

import dataclasses
import functools

import cv2
import numpy as np

from ragan_tf.inference.photo_io import detection_image


# ---------------------------------------------------------------------------
# The alignment recipe
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class AlignmentSpec:
    """One oriented square crop recipe, FFHQ's generalised.

    With eye centres e_l, e_r and mouth corners m_l, m_r (image left first):
    e = (e_l + e_r) / 2, eye_to_eye = e_r - e_l, eye_to_mouth = (m_l + m_r) / 2 - e;
    the crop's x axis is eye_to_eye - flipud(eye_to_mouth) * [-1, 1], normalised
    and scaled to half the crop side,
    max(|eye_to_eye| * eye_scale, |eye_to_mouth| * mouth_scale); y = flipud(x) * [-1, 1];
    the crop centre is e + eye_to_mouth * centre_shift.

    Attributes:
        name: the key in `SPECS`.
        eye_scale: half crop side per eye-to-eye distance.
        mouth_scale: half crop side per eye-to-mouth distance.
        centre_shift: where the centre sits between the eyes (0) and the mouth (1).
    """

    name: str
    eye_scale: float
    mouth_scale: float
    centre_shift: float


# NVlabs ffhq-dataset, download_ffhq.py `recreate_aligned_images`.
FFHQ = AlignmentSpec("ffhq", eye_scale=2.0, mouth_scale=1.8, centre_shift=0.1)

# FFHQ-Aging (royorel/FFHQ-Aging-Dataset, download_ffhq_aging.py `align_in_the_wild_image`)
# runs the FFHQ code with one change, `np.hypot(*eye_to_mouth) * 2.2`, commented "This results
# in larger crops then the original FFHQ. For the original crops, replace 2.2 with 1.8": only the
# mouth term grows; the eye term stays 2.0 (not both terms scaled by 2.2 / 1.8).
FFHQ_AGING = AlignmentSpec("ffhq_aging", eye_scale=2.0, mouth_scale=2.2, centre_shift=0.1)

# Fitted by `calibrate_synthetic_spec()` (least squares over a 9 x 9 grid spanning the frame,
# 200 identities x 8 ages in 10-80, 64 px): the crop of a render lands on the render's own
# frame to 1.85 px on average over the frame (95th percentile 4.4 px, worst 14 px: identities'
# proportions differ, and one similarity per face cannot absorb that) and 0.95 px at the five
# landmarks (95th percentile 2.2 px, worst 3.8 px, at age 10).
SYNTHETIC = AlignmentSpec("synthetic", eye_scale=2.4895, mouth_scale=2.7116, centre_shift=0.2598)

SPECS = {spec.name: spec for spec in (FFHQ, FFHQ_AGING, SYNTHETIC)}


def get_spec(spec) -> AlignmentSpec:
    """An `AlignmentSpec` by name (or passed through).

    Raises:
        ValueError: an unknown name; the message lists the known ones.
    """
    if isinstance(spec, AlignmentSpec):
        return spec
    if spec not in SPECS:
        raise ValueError(f"unknown alignment {spec!r}; choose one of: {', '.join(SPECS)}.")
    return SPECS[spec]


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


def _crop_frame(landmarks, spec):
    """(centre, x, y): the crop's centre and half-side axis vectors, in photo coordinates."""
    eye_left, eye_right, _, mouth_left, mouth_right = five_point_landmarks(landmarks)
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    eye_to_mouth = (mouth_left + mouth_right) * 0.5 - eye_avg
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    length = np.hypot(*x)
    if not length > 1e-9:
        raise ValueError("degenerate landmarks: the eyes and the mouth coincide.")
    x *= max(np.hypot(*eye_to_eye) * spec.eye_scale, np.hypot(*eye_to_mouth) * spec.mouth_scale) / length
    y = np.flipud(x) * [-1, 1]
    return eye_avg + eye_to_mouth * spec.centre_shift, x, y


def alignment_quad(landmarks, spec) -> np.ndarray:
    """The crop's corners in the photo, FFHQ's `quad`: float64 [4, 2], top-left,
    bottom-left, bottom-right, top-right (the outer pixel edges of the crop)."""
    centre, x, y = _crop_frame(landmarks, get_spec(spec))
    return np.stack([centre - x - y, centre - x + y, centre + x + y, centre + x - y])


def alignment_transform(landmarks, spec, crop_size) -> np.ndarray:
    """The similarity mapping photo coordinates to crop coordinates.

    Args:
        landmarks: [5, 2] or [68, 2] (see `five_point_landmarks`), photo coordinates.
        spec: an `AlignmentSpec` or its name.
        crop_size: side S of the square crop in pixels.

    Returns:
        float64 [2, 3]: rotation, uniform scale and translation. The spec's
        crop centre goes to ((S - 1) / 2, (S - 1) / 2), its quad onto the
        crop's outer pixel edges [-0.5, S - 0.5]^2 (as PIL's QUAD transform
        of `quad + 0.5` in FFHQ's code).

    Example:
        >>> matrix = alignment_transform(landmarks68, "ffhq", 256)
        >>> transform_points(matrix, five_point_landmarks(landmarks68)[:2])  # eyes in the crop
    """
    centre, x, y = _crop_frame(landmarks, get_spec(spec))
    half_side = np.hypot(*x)
    linear = np.stack([x, y]) * (crop_size / (2.0 * half_side**2))
    offset = (crop_size - 1) / 2.0 - linear @ centre
    return np.column_stack([linear, offset])


# ---------------------------------------------------------------------------
# Affine helpers
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# Detection (dlib)
# ---------------------------------------------------------------------------

DETECTORS = ("auto", "hog", "cnn")
# HOG detections scoring below this are confirmed by the CNN in "auto" mode: on
# skimage's astronaut HOG (upsample 1) also fires at 0.12 on the suit's patch, while
# true cartoon faces can score as low as 0.01.
HOG_CONFIRM_BELOW = 0.5
_CONFIRM_FACE_SIDE = 120  # px: the CNN sees a doubtful face at this size
_CONFIRM_MIN_IOU = 0.3


def _import_dlib():
    try:
        import dlib
        import face_recognition_models
    except ImportError as error:
        raise ImportError(
            f"Face detection needs dlib and its models, and {error.name} is missing: "
            'install them with `pip install -e ".[faces]"` (dlib-bin, face-recognition-models).'
        ) from error
    return dlib, face_recognition_models


@functools.cache
def _hog_detector():
    dlib, _ = _import_dlib()
    return dlib.get_frontal_face_detector()


@functools.cache
def _cnn_detector():
    dlib, models = _import_dlib()
    return dlib.cnn_face_detection_model_v1(models.cnn_face_detector_model_location())


@functools.cache
def _shape_predictor():
    dlib, models = _import_dlib()
    return dlib.shape_predictor(models.pose_predictor_model_location())


def _box(rectangle):
    return np.array([rectangle.left(), rectangle.top(), rectangle.right(), rectangle.bottom()], np.float64)


def _iou(box_a, box_b):
    """Intersection over union of two (left, top, right, bottom) inclusive pixel boxes."""
    overlap = np.clip(np.minimum(box_a[2:], box_b[2:]) - np.maximum(box_a[:2], box_b[:2]) + 1, 0, None)
    area = lambda box: np.prod(box[2:] - box[:2] + 1)  # noqa: E731
    intersection = np.prod(overlap)
    return float(intersection / (area(box_a) + area(box_b) - intersection))


def _check_rgb(rgb):
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected a uint8 [H, W, 3] RGB image; got {rgb.dtype} {rgb.shape}.")
    return np.ascontiguousarray(rgb)


class FaceDetector:
    """dlib face detection plus 68 landmarks, robust to huge photos.

    Detection runs on a copy shrunk to `max_detection_side` (`detection_image`);
    the 68-point shape predictor then runs on the full-resolution photo in the
    box mapped back. dlib models load on first use, once per process.

    Args:
        detector: "hog" (fast frontal HOG + SVM), "cnn" (dlib's MMOD CNN: finds
            more faces, seconds per image on a CPU) or "auto": HOG, with any
            detection scoring below `HOG_CONFIRM_BELOW` kept only if the CNN
            also finds a face there, and the CNN on the whole image when HOG
            finds nothing (HOG misses some small cartoon children's faces).
        upsample: times the image is doubled before detecting, to find small
            faces (for the CNN, only while the doubled image stays within
            `max_detection_side`: it is slow).
        max_detection_side: longest side of the image detectors see.

    Example:
        >>> faces = FaceDetector().detect(photo.rgb)
        >>> [points.shape for points in faces]
        [(68, 2)]
    """

    def __init__(self, detector="auto", upsample=1, max_detection_side=1024):
        if detector not in DETECTORS:
            raise ValueError(f"unknown face detector {detector!r}; choose one of: {', '.join(DETECTORS)}.")
        self.detector = detector
        self.upsample = int(upsample)
        self.max_detection_side = int(max_detection_side)

    def detect(self, rgb) -> list[np.ndarray]:
        """68 landmarks per face found in `rgb`.

        Args:
            rgb: uint8 [H, W, 3].

        Returns:
            A list of float64 [68, 2] (x, y) arrays in `rgb`'s coordinates,
            sorted left to right by face centre; empty when there is no face.
        """
        rgb = _check_rgb(rgb)
        small, scale = detection_image(rgb, self.max_detection_side)
        boxes = [(box + 0.5) / scale - 0.5 for box in self.boxes(small)]
        faces = [self._landmarks(rgb, box) for box in boxes]
        return sorted(faces, key=lambda points: float(points[:, 0].mean()))

    def boxes(self, rgb) -> list[np.ndarray]:
        """Face boxes (left, top, right, bottom; inclusive pixels) in `rgb`, as detected
        (no resizing): float64 [4] each."""
        rgb = _check_rgb(rgb)
        if self.detector == "cnn":
            return self._cnn_boxes(rgb)
        rectangles, scores, _ = _hog_detector().run(rgb, self.upsample, 0.0)
        boxes = [_box(rectangle) for rectangle in rectangles]
        if self.detector == "hog":
            return boxes
        if not boxes:
            return self._cnn_boxes(rgb)
        sure = [score >= HOG_CONFIRM_BELOW for score in scores]
        return [box for box, certain in zip(boxes, sure) if certain or self._confirmed(rgb, box)]

    def _cnn_upsample(self, rgb):
        upsample, side = 0, max(rgb.shape[:2])
        while upsample < self.upsample and side * 2 ** (upsample + 1) <= self.max_detection_side:
            upsample += 1
        return upsample

    def _cnn_boxes(self, rgb):
        return [_box(detection.rect) for detection in _cnn_detector()(rgb, self._cnn_upsample(rgb))]

    def _confirmed(self, rgb, box):
        """Whether the CNN finds a face overlapping `box`, looking at a crop around it."""
        side = float(max(box[2:] - box[:2]) + 1)
        low = np.maximum(np.floor(box[:2] - side / 2), 0).astype(int)
        high = np.minimum(np.ceil(box[2:] + side / 2) + 1, [rgb.shape[1], rgb.shape[0]]).astype(int)
        patch = rgb[low[1] : high[1], low[0] : high[0]]
        zoom = _CONFIRM_FACE_SIDE / side
        interpolation = cv2.INTER_AREA if zoom < 1 else cv2.INTER_LINEAR
        patch = cv2.resize(patch, None, fx=zoom, fy=zoom, interpolation=interpolation)
        detections = _cnn_detector()(patch, 0)
        found = [(_box(detection.rect) + 0.5) / zoom - 0.5 + np.tile(low, 2) for detection in detections]
        return any(_iou(box, other) >= _CONFIRM_MIN_IOU for other in found)

    @staticmethod
    def _landmarks(rgb, box):
        dlib, _ = _import_dlib()
        left, top, right, bottom = (int(round(value)) for value in box)
        shape = _shape_predictor()(rgb, dlib.rectangle(left, top, right, bottom))
        return np.array([(point.x, point.y) for point in shape.parts()], np.float64)


# ---------------------------------------------------------------------------
# Face mask from landmarks
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# Aligned crops
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class AlignedFace:
    """One face cut out of a photo.

    Attributes:
        crop: uint8 [S, S, 3].
        mask: float32 [S, S] in [0, 1], the face (`landmark_face_mask`).
        transform: float64 [2, 3], photo coordinates -> crop coordinates.
        landmarks: float64 [68, 2] (or [5, 2]) in photo coordinates.
        crop_landmarks: the same points in crop coordinates.
    """

    crop: np.ndarray
    mask: np.ndarray
    transform: np.ndarray
    landmarks: np.ndarray
    crop_landmarks: np.ndarray

    @property
    def crop_size(self) -> int:
        return int(self.crop.shape[0])


def align_face(rgb, landmarks, spec, crop_size) -> AlignedFace:
    """Cuts the face with these landmarks out of `rgb` as an upright square crop.

    Outside the photo the crop reflects it (BORDER_REFLECT); large faces are
    reduced with area averaging, so small crops do not alias.

    Args:
        rgb: uint8 [H, W, 3] photo.
        landmarks: dlib's [68, 2] (or [5, 2]) points in photo coordinates.
        spec: an `AlignmentSpec` or its name ("ffhq", "ffhq_aging", "synthetic").
        crop_size: side S of the crop.

    Returns:
        An `AlignedFace`.
    """
    landmarks = np.asarray(landmarks, np.float64)
    transform = alignment_transform(landmarks, spec, crop_size)
    crop = warp_image(_check_rgb(rgb), transform, (crop_size, crop_size))
    crop_landmarks = transform_points(transform, landmarks)
    return AlignedFace(
        crop=crop,
        mask=landmark_face_mask(crop_landmarks, crop_size),
        transform=transform,
        landmarks=landmarks,
        crop_landmarks=crop_landmarks,
    )


class FaceAligner:
    """Detects every face in a photo and aligns each one.

    Args:
        spec: an `AlignmentSpec` or its name.
        crop_size: side of the crops.
        detector: a `FaceDetector` (default: `FaceDetector()`).

    Example:
        >>> faces = FaceAligner("ffhq_aging", 256)(photo.rgb)
    """

    def __init__(self, spec, crop_size, detector=None):
        self.spec = get_spec(spec)
        self.crop_size = int(crop_size)
        self.detector = FaceDetector() if detector is None else detector

    def __call__(self, rgb) -> list[AlignedFace]:
        """Aligned faces of `rgb`, left to right; empty when there is none."""
        return [align_face(rgb, points, self.spec, self.crop_size) for points in self.detector.detect(rgb)]


# ---------------------------------------------------------------------------
# Calibration of SYNTHETIC
# ---------------------------------------------------------------------------


def calibrate_synthetic_spec(identities=range(0, 400, 2), ages=np.linspace(10.0, 80.0, 8), size=64):
    """Fits `SYNTHETIC`: the spec whose crop of a synthetic render is the render's own frame.

    For each render, T is the spec's transform from the render's five
    landmarks to a crop of the render's size; a perfect spec makes T the
    identity. Least squares (scipy) over the displacement |T(p) - p|, in
    pixels at `size`, of a 9 x 9 grid of points spanning the frame (so scale
    errors count where they show: at the borders). Renders' landmarks are
    exact at any size, so they are drawn at 32 px and rescaled. `SYNTHETIC`
    holds the result of `calibrate_synthetic_spec()` (about 15 s):

        python -c "from ragan_tf.inference.face_alignment import calibrate_synthetic_spec as c; print(c())"

    Returns:
        (spec, landmark_errors, frame_errors): the fitted `AlignmentSpec`
        (rounded to 4 decimals) and, with it, |T(p) - p| in pixels at the
        landmarks, float64 [faces, 5], and at the grid, [faces, 81].
    """
    from scipy.optimize import least_squares  # scikit-image's dependency; only needed here

    from ragan_tf.data.synthetic_faces import MIN_SIZE, render

    faces = [render(identity, age, MIN_SIZE).landmarks for identity in identities for age in ages]
    landmarks = (np.asarray(faces, np.float64) + 0.5) * (size / MIN_SIZE) - 0.5
    ticks = np.linspace(-0.5, size - 0.5, 9)
    grid = np.stack(np.meshgrid(ticks, ticks), axis=-1).reshape(-1, 2)

    def displacements(params, points_of):
        spec = AlignmentSpec("synthetic", *params)
        moved = [transform_points(alignment_transform(face, spec, size), points_of(face)) for face in landmarks]
        return np.stack([points - points_of(face) for points, face in zip(moved, landmarks)])

    fit = least_squares(lambda params: displacements(params, lambda face: grid).ravel(), x0=(2.5, 2.8, 0.25))
    spec = AlignmentSpec("synthetic", *(round(float(value), 4) for value in fit.x))
    params = (spec.eye_scale, spec.mouth_scale, spec.centre_shift)
    landmark_errors = np.linalg.norm(displacements(params, lambda face: face), axis=-1)
    return spec, landmark_errors, np.linalg.norm(displacements(params, lambda face: grid), axis=-1)
