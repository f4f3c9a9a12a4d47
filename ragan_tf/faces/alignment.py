"""Cutting out aligned face crops the generator understands.

A generator trained on FFHQ-Aging only works on faces cropped the way
FFHQ-Aging was cropped: eyes level, at a fixed height and scale. This module
reproduces that recipe (NVlabs ffhq-dataset's `recreate_aligned_images`,
generalised by `AlignmentSpec`), cuts the crop (`align_face`, with the face
mask of `landmark_mask`), and returns everything `paste_back` needs to put an
aged crop back into the photo. `FaceAligner` adds detection (`detection`).

Coordinates and transforms follow `ragan_tf.faces.affine`: (x, y) pixel
coordinates with pixel centres at integer values; a crop of side S spans
[-0.5, S - 0.5]; transforms are 2x3 float64 affine matrices.

Example:
    >>> aligner = FaceAligner("ffhq_aging", 256)
    >>> faces = aligner(photo.rgb)   # one AlignedFace per face, left to right
    >>> faces[0].crop.shape, faces[0].mask.shape
    ((256, 256, 3), (256, 256))
"""

import dataclasses

import numpy as np

from ragan_tf.errors import RaganError
from ragan_tf.faces.affine import transform_points, warp_image
from ragan_tf.faces.detection import FaceDetector, _check_rgb
from ragan_tf.faces.landmark_mask import landmark_face_mask
from ragan_tf.faces.landmarks import five_point_landmarks

# ---------------------------------------------------------------------------
# The alignment recipe
# ---------------------------------------------------------------------------


class AlignmentError(RaganError, ValueError):
    """An alignment name that is not in `SPECS`, or landmarks no crop can be cut from."""


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

# Fitted by `ragan_tf.data.synthetic_alignment.calibrate_synthetic_spec()` (least squares over
# a 9 x 9 grid spanning the frame, 200 identities x 8 ages in 10-80, 64 px): the crop of a
# render lands on the render's own frame to 1.85 px on average over the frame (95th percentile
# 4.4 px, worst 14 px: identities' proportions differ, and one similarity per face cannot absorb
# that) and 0.95 px at the five landmarks (95th percentile 2.2 px, worst 3.8 px, at age 10).
SYNTHETIC = AlignmentSpec("synthetic", eye_scale=2.4895, mouth_scale=2.7116, centre_shift=0.2598)

# UTKFace's "Aligned & Cropped Faces" chips follow a tight crop of their own. Fitted by
# `fit_frame_spec` to the 68 HOG landmarks of 193 of the 200 px chips (benchmarks/chip_alignment.py,
# 400 chips of ../shared/data/utkface, seed 0): on 192 held-out chips the recipe's crop lands on
# the chip's own frame to 5.4 px on average over the frame (2.7% of the side; p95 13 px) and
# 4.2 px at the five landmarks, against 36 px (18%) for plain FFHQ. Models trained on UTKFace
# chips prepared as they are (`none`) cut photos with it in `ragan-tf age`.
UTKFACE = AlignmentSpec("utkface", eye_scale=1.2316, mouth_scale=1.2477, centre_shift=0.5077)

SPECS = {spec.name: spec for spec in (FFHQ, FFHQ_AGING, SYNTHETIC, UTKFACE)}


def _frame_grid(size):
    ticks = np.linspace(-0.5, size - 0.5, 9)
    return np.stack(np.meshgrid(ticks, ticks), axis=-1).reshape(-1, 2)


def _displacements(landmarks, size, spec, points_of):
    moved = [transform_points(alignment_transform(face, spec, size), points_of(face)) for face in landmarks]
    return np.stack([points - points_of(face) for points, face in zip(moved, landmarks)])


def frame_errors(landmarks, size, spec):
    """How far `spec`'s crop of each aligned image lands from the image's own frame.

    Args:
        landmarks: float [faces, K, 2] landmarks (68 or 5 points) in their images' pixels.
        size: the images' side in pixels.
        spec: an `AlignmentSpec` or its name.

    Returns:
        (landmark_errors, frame_errors): |T(p) - p| in pixels, T the spec's
        transform to a crop of `size`, at the five landmarks, float64
        [faces, 5], and at a 9 x 9 grid spanning the frame, [faces, 81].
    """
    landmarks, spec, grid = [np.asarray(face, np.float64) for face in landmarks], get_spec(spec), _frame_grid(size)
    return (np.linalg.norm(_displacements(landmarks, size, spec, five_point_landmarks), axis=-1),
            np.linalg.norm(_displacements(landmarks, size, spec, lambda face: grid), axis=-1))


def fit_frame_spec(landmarks, size, name, x0=(2.0, 2.2, 0.1)):
    """The `AlignmentSpec` whose crop of each face is its image's own frame: for images that are
    aligned crops already (synthetic renders, a dataset's chips), the recipe that cuts photos
    the same way.

    Least squares (scipy) over `frame_errors`' grid displacements (so scale
    errors count where they show: at the borders).

    Args:
        landmarks: float [faces, K, 2] landmarks (68 or 5 points) in their images' pixels.
        size: the images' side in pixels.
        name: the spec's name.
        x0: the starting (eye_scale, mouth_scale, centre_shift).

    Returns:
        (spec, landmark_errors, frame_errors): the fitted `AlignmentSpec`
        (rounded to 4 decimals) and its `frame_errors`.
    """
    from scipy.optimize import least_squares  # scikit-image's dependency; only needed here

    landmarks, grid = [np.asarray(face, np.float64) for face in landmarks], _frame_grid(size)
    fit = least_squares(
        lambda params: _displacements(landmarks, size, AlignmentSpec(name, *params), lambda face: grid).ravel(), x0=x0)
    spec = AlignmentSpec(name, *(round(float(value), 4) for value in fit.x))
    return (spec, *frame_errors(landmarks, size, spec))


def get_spec(spec) -> AlignmentSpec:
    """An `AlignmentSpec` by name (or passed through).

    Raises:
        AlignmentError: an unknown name; the message lists the known ones.
    """
    if isinstance(spec, AlignmentSpec):
        return spec
    if spec not in SPECS:
        raise AlignmentError(f"unknown alignment {spec!r}; choose one of: {', '.join(SPECS)}.")
    return SPECS[spec]


def _crop_frame(landmarks, spec):
    """(centre, x, y): the crop's centre and half-side axis vectors, in photo coordinates."""
    eye_left, eye_right, _, mouth_left, mouth_right = five_point_landmarks(landmarks)
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    eye_to_mouth = (mouth_left + mouth_right) * 0.5 - eye_avg
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    length = np.hypot(*x)
    if not length > 1e-9:
        raise AlignmentError("degenerate landmarks: the eyes and the mouth coincide.")
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
