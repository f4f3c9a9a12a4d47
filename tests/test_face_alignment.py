import sys

import cv2
import numpy as np
import pytest

from ragan_tf.data.synthetic_alignment import calibrate_synthetic_spec
from ragan_tf.data.synthetic_faces import render
from ragan_tf.faces import detection
from ragan_tf.faces.affine import compose_transforms, transform_points, warp_image
from ragan_tf.faces.alignment import (
    UTKFACE,
    FFHQ,
    FFHQ_AGING,
    SPECS,
    SYNTHETIC,
    FaceAligner,
    align_face,
    alignment_quad,
    alignment_transform,
    get_spec,
)
from ragan_tf.faces.detection import FaceDetector
from ragan_tf.faces.landmark_mask import landmark_face_mask
from ragan_tf.faces.landmarks import five_point_landmarks

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def astronaut():
    return skimage_data.astronaut()


@pytest.fixture(scope="module")
def detector():
    return FaceDetector()


@pytest.fixture(scope="module")
def astronaut_landmarks(astronaut, detector):
    faces = detector.detect(astronaut)
    assert len(faces) == 1
    return faces[0]


def eyes_and_mouth(points):
    """Left eye, right eye and mouth centre: [3, 2]."""
    five = five_point_landmarks(points)
    return np.stack([five[0], five[1], five[3:].mean(0)])


def eye_line_degrees(points):
    left, right = five_point_landmarks(points)[:2]
    return float(np.degrees(np.arctan2(right[1] - left[1], right[0] - left[0])))


def rotate(image, degrees):
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), degrees, 1.0)
    return cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def placement(degrees, scale, centre=(160.0, 150.0)):
    """Rotation + scale about a 128 px render's centre, then a move to `centre`."""
    matrix = cv2.getRotationMatrix2D((63.5, 63.5), degrees, scale)
    matrix[:, 2] += np.asarray(centre) - 63.5
    return matrix


def placed_render(identity, age, matrix, canvas=(320, 300)):
    """A 128 px render warped by `matrix` into a bigger canvas, and its landmarks there."""
    face = render(identity, age, 128)
    image = warp_image(face.image, matrix, canvas, border_mode=cv2.BORDER_REPLICATE)
    return image, transform_points(matrix, face.landmarks)


# --- the recipe ------------------------------------------------------------------------------


def test_specs_and_their_names():
    assert SPECS == {"ffhq": FFHQ, "ffhq_aging": FFHQ_AGING, "synthetic": SYNTHETIC, "utkface": UTKFACE}
    assert get_spec("ffhq_aging") is FFHQ_AGING and get_spec(FFHQ) is FFHQ
    assert (FFHQ.eye_scale, FFHQ.mouth_scale, FFHQ.centre_shift) == (2.0, 1.8, 0.1)
    with pytest.raises(ValueError, match="unknown alignment 'celeba'; choose one of: ffhq, ffhq_aging, synthetic, utkface"):
        get_spec("celeba")


def test_five_points_from_dlib_68():
    points = np.arange(136, dtype=np.float64).reshape(68, 2)
    five = five_point_landmarks(points)
    np.testing.assert_allclose(five, [points[36:42].mean(0), points[42:48].mean(0), points[30], points[48], points[54]])
    np.testing.assert_array_equal(five_point_landmarks(five), five)
    with pytest.raises(ValueError, match=r"\[5, 2\] or dlib's \[68, 2\]"):
        five_point_landmarks(np.zeros((4, 2)))


def test_transform_is_a_similarity_onto_the_ffhq_quad():
    landmarks = np.array([[100.0, 120.0], [140.0, 112.0], [122.0, 140.0], [108.0, 165.0], [136.0, 160.0]])
    size = 256
    matrix = alignment_transform(landmarks, FFHQ, size)
    linear = matrix[:, :2]
    np.testing.assert_allclose(linear @ linear.T, np.eye(2) * np.linalg.det(linear), atol=1e-9)
    assert np.linalg.det(linear) > 0  # no mirroring
    edges = [[-0.5, -0.5], [-0.5, size - 0.5], [size - 0.5, size - 0.5], [size - 0.5, -0.5]]
    np.testing.assert_allclose(transform_points(matrix, alignment_quad(landmarks, FFHQ)), edges, atol=1e-9)
    # The crop centre: eye centre moved 10% of the way to the mouth.
    centre = landmarks[:2].mean(0) + 0.1 * (landmarks[3:].mean(0) - landmarks[:2].mean(0))
    np.testing.assert_allclose(transform_points(matrix, [centre]), [[127.5, 127.5]], atol=1e-9)


def test_ffhq_aging_crop_is_wider_when_the_mouth_term_decides():
    # eye_to_eye 30, eye_to_mouth 40: FFHQ's half side max(60, 72), FFHQ-Aging's max(60, 88).
    landmarks = np.array([[85.0, 100.0], [115.0, 100.0], [100.0, 120.0], [90.0, 140.0], [110.0, 140.0]])
    ffhq, aging = (np.ptp(alignment_quad(landmarks, spec)[:, 0]) for spec in (FFHQ, FFHQ_AGING))
    assert ffhq == pytest.approx(144.0) and aging == pytest.approx(176.0)


# --- detection on a real photo ---------------------------------------------------------------


def test_astronaut_has_exactly_one_face(astronaut, astronaut_landmarks):
    assert astronaut_landmarks.shape == (68, 2) and astronaut_landmarks.dtype == np.float64
    centre = astronaut_landmarks.mean(0)
    assert 170 < centre[0] < 270 and 80 < centre[1] < 180
    # HOG alone also fires (weakly) on the suit's patch; "auto" asks the CNN about such doubtful boxes.
    hog_only = FaceDetector("hog").detect(astronaut)
    assert len(hog_only) == 2 and any(np.allclose(points, astronaut_landmarks) for points in hog_only)


def test_ffhq_crop_puts_eyes_and_mouth_where_the_spec_says(astronaut, astronaut_landmarks, detector):
    face = align_face(astronaut, astronaut_landmarks, "ffhq", 256)
    assert face.crop.shape == (256, 256, 3) and face.crop.dtype == np.uint8 and face.crop_size == 256
    expected = eyes_and_mouth(transform_points(face.transform, astronaut_landmarks))
    np.testing.assert_allclose(eyes_and_mouth(face.crop_landmarks), expected)
    again = detector.detect(face.crop)
    assert len(again) == 1
    np.testing.assert_allclose(eyes_and_mouth(again[0]), expected, atol=3.0)
    assert abs(eye_line_degrees(again[0])) < 2.0


def test_crop_of_a_rotated_photo_is_upright(astronaut, detector):
    rotated = rotate(astronaut, 20.0)  # counter-clockwise on screen
    faces = detector.detect(rotated)
    assert len(faces) == 1
    assert eye_line_degrees(faces[0]) == pytest.approx(-20.0, abs=4.0)
    face = align_face(rotated, faces[0], FFHQ_AGING, 256)
    again = detector.detect(face.crop)
    assert len(again) == 1 and abs(eye_line_degrees(again[0])) < 2.0


def test_huge_photos_are_detected_small_and_landmarked_at_full_resolution(astronaut, astronaut_landmarks):
    huge = cv2.resize(astronaut, (1536, 1536), interpolation=cv2.INTER_CUBIC)
    faces = FaceDetector(max_detection_side=512).detect(huge)
    assert len(faces) == 1
    expected = (astronaut_landmarks + 0.5) * 3.0 - 0.5
    assert np.abs(eyes_and_mouth(faces[0]) - eyes_and_mouth(expected)).max() < 6.0


def test_no_face_gives_an_empty_list():
    grey = np.full((96, 96, 3), 128, np.uint8)
    assert FaceDetector().detect(grey) == []
    assert FaceAligner("ffhq", 64)(grey) == []


def test_two_faces_are_found_left_to_right():
    left, right = render(10, 45.0, 128), render(12, 52.0, 128)
    photo = np.concatenate([left.image, right.image], axis=1)
    faces = FaceDetector().detect(photo)
    assert len(faces) == 2
    assert faces[0][:, 0].mean() < 128 < faces[1][:, 0].mean()
    aligned = FaceAligner(SYNTHETIC, 64)(photo)
    assert [face.crop.shape for face in aligned] == [(64, 64, 3)] * 2
    assert aligned[0].landmarks[:, 0].mean() < aligned[1].landmarks[:, 0].mean()


def test_detector_arguments_and_missing_dlib(monkeypatch):
    with pytest.raises(ValueError, match="unknown face detector 'yolo'; choose one of: auto, hog, cnn"):
        FaceDetector("yolo")
    with pytest.raises(ValueError, match=r"uint8 \[H, W, 3\]"):
        FaceDetector().detect(np.zeros((10, 10), np.uint8))
    monkeypatch.setitem(sys.modules, "dlib", None)
    with pytest.raises(ImportError, match=r"pip install 'ragan-tf\[faces\]'"):
        detection.require_dlib()


# --- synthetic renders: exact ground truth ---------------------------------------------------


@pytest.mark.parametrize(
    "identity, age, degrees, scale",
    [(3, 25.0, 0.0, 1.0), (7, 40.0, 15.0, 1.3), (11, 62.0, -25.0, 0.8), (20, 75.0, 30.0, 1.6), (5, 12.0, 5.0, 1.1)],
)
def test_synthetic_spec_recovers_the_render_frame(identity, age, degrees, scale):
    matrix = placement(degrees, scale)
    photo, landmarks = placed_render(identity, age, matrix)
    face = align_face(photo, landmarks, SYNTHETIC, 64)
    truth = render(identity, age, 64)
    errors = np.linalg.norm(face.crop_landmarks - truth.landmarks, axis=1)
    assert errors.mean() < 2.0 and errors.max() < 3.0
    # The crop is the render seen through the composed transform (canvas reflections aside) ...
    render_to_crop = compose_transforms(face.transform, matrix)
    expected = warp_image(render(identity, age, 128).image, render_to_crop, (64, 64), cv2.BORDER_REPLICATE)
    inner = slice(4, 60)
    assert np.abs(face.crop[inner, inner].astype(int) - expected[inner, inner]).mean() < 3.0
    # ... and close to the 64 px render itself, far closer than another identity is.
    error = np.abs(face.crop[inner, inner].astype(int) - truth.image[inner, inner]).mean()
    other = np.abs(render(identity + 1, age, 64).image[inner, inner].astype(int) - truth.image[inner, inner])
    assert error < 0.5 * other.mean()


def test_calibration_reproduces_the_recorded_constants():
    pytest.importorskip("scipy")
    spec, landmark_errors, frame_errors = calibrate_synthetic_spec(range(0, 60, 3), [10, 30, 50, 80])
    assert spec.name == "synthetic" and landmark_errors.shape == (80, 5) and frame_errors.shape == (80, 81)
    assert landmark_errors.mean() < 1.2 and frame_errors.mean() < 2.5
    recorded = np.array([SYNTHETIC.eye_scale, SYNTHETIC.mouth_scale, SYNTHETIC.centre_shift])
    np.testing.assert_allclose([spec.eye_scale, spec.mouth_scale, spec.centre_shift], recorded, rtol=0.05)


# --- masks and warping -----------------------------------------------------------------------


def test_landmark_face_mask_is_one_inside_zero_outside_with_a_ramp(astronaut, astronaut_landmarks):
    face = align_face(astronaut, astronaut_landmarks, FFHQ, 256)
    mask = face.mask
    assert mask.shape == (256, 256) and mask.dtype == np.float32
    nose = np.round(face.crop_landmarks[30]).astype(int)
    assert mask[nose[1], nose[0]] == 1.0
    assert mask[0, 0] == mask[0, -1] == mask[-1, 0] == mask[-1, -1] == 0.0
    # Straight up from the nose: 1, then a monotone ramp through (0, 1), then 0 above the forehead.
    column = mask[: nose[1] + 1, nose[0]][::-1]
    assert np.all(np.diff(column) <= 1e-6)
    assert ((column > 0.05) & (column < 0.95)).sum() >= 5
    brow_y = face.crop_landmarks[17:27, 1].min()
    assert mask[int(brow_y) - 15, nose[0]] == 1.0  # the forehead is inside


def test_five_point_mask_covers_the_face():
    landmarks = np.array([[24.0, 28.0], [40.0, 28.0], [32.0, 36.0], [26.0, 44.0], [38.0, 44.0]])
    mask = landmark_face_mask(landmarks, 64)
    assert mask[36, 32] == 1.0 and mask[0, 0] == 0.0 and mask[63, 63] == 0.0


def test_warp_image_equals_warp_affine_when_not_shrinking():
    image = np.random.default_rng(0).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    matrix = cv2.getRotationMatrix2D((10.0, 20.0), 33.0, 1.2)
    for size in [(60, 50), (300, 280)]:  # inside, and reaching far beyond the edges (reflections)
        expected = cv2.warpAffine(image, matrix, size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        np.testing.assert_array_equal(warp_image(image, matrix, size), expected)


def test_warp_image_does_not_alias_when_shrinking():
    checkerboard = ((np.indices((256, 256)).sum(0) % 2) * 255).astype(np.uint8)
    matrix = cv2.getRotationMatrix2D((127.5, 127.5), 10.0, 0.25)
    shrunk = warp_image(checkerboard, matrix, (256, 256))[100:156, 100:156]
    aliased = cv2.warpAffine(checkerboard, matrix, (256, 256))[100:156, 100:156]
    assert np.abs(shrunk.astype(int) - 127.5).max() < 8 < aliased.std()


def test_fit_frame_spec_recovers_the_recipe_chips_were_cut_with(astronaut_landmarks):
    pytest.importorskip("scipy")
    from ragan_tf.faces.affine import transform_points
    from ragan_tf.faces.alignment import AlignmentSpec, alignment_transform, fit_frame_spec, frame_errors

    truth = AlignmentSpec("chips", eye_scale=1.3, mouth_scale=1.25, centre_shift=0.45)
    rng = np.random.default_rng(0)
    chips = []
    for _ in range(12):  # 12 "people": the astronaut's landmarks, each point moved by up to ~3 px
        face = astronaut_landmarks + rng.normal(0, 1.5, astronaut_landmarks.shape)
        chips.append(transform_points(alignment_transform(face, truth, 200), face))  # landmarks in 200 px chips
    spec, landmark_errors, grid_errors = fit_frame_spec(chips, 200, "chips")
    # On these faces the eye term sets the crop size (the larger of the two), so the mouth scale is only
    # bounded: the fit must find the eye scale and the centre, and crops equal to the chips'.
    np.testing.assert_allclose([spec.eye_scale, spec.centre_shift], [1.3, 0.45], atol=2e-3)
    assert landmark_errors.max() < 0.2 and grid_errors.max() < 0.3  # px at 200: rounding to 4 decimals only
    wrong, _ = frame_errors(chips, 200, "ffhq")
    assert wrong.mean() > 10  # another recipe does not cut these chips


def test_cnn_boxes_are_moved_to_where_hog_boxes_the_face_and_the_eyes_land_on_the_eyes(astronaut, astronaut_landmarks):
    """A real photo: landmarks from the CNN detector's (mapped) box against those from HOG's."""
    raw = [detection._box(found.rect) for found in detection._cnn_detector()(astronaut, 1)]
    hog = FaceDetector("hog").boxes(astronaut)
    (mapped,) = FaceDetector("cnn").boxes(astronaut)
    assert len(raw) == 1
    face_box = max(hog, key=lambda box: detection._iou(box, raw[0]))  # HOG's face (its other hit is the suit)
    np.testing.assert_allclose(mapped, detection.hog_like_box(raw[0]))
    assert detection._iou(mapped, face_box) > detection._iou(raw[0], face_box)
    (cnn_points,) = FaceDetector("cnn").detect(astronaut)
    ocular = np.linalg.norm(eyes_and_mouth(astronaut_landmarks)[0] - eyes_and_mouth(astronaut_landmarks)[1])
    eye_error = np.linalg.norm(eyes_and_mouth(cnn_points)[:2] - eyes_and_mouth(astronaut_landmarks)[:2], axis=1)
    assert eye_error.max() < 0.05 * ocular  # 0.1 of the inter-ocular distance is the usual "off" mark


def test_hog_like_box_moves_and_scales_about_the_centre():
    box = np.array([10.0, 20.0, 109.0, 219.0])  # 100 x 200 px, centre (59.5, 119.5)
    np.testing.assert_allclose(detection.hog_like_box(box, (0.0, 0.0, 1.0, 1.0)), box)
    moved = detection.hog_like_box(box, (0.1, -0.05, 0.5, 2.0))
    np.testing.assert_allclose(moved[2:] - moved[:2] + 1, [50.0, 400.0])
    np.testing.assert_allclose((moved[:2] + moved[2:]) / 2, [59.5 + 10.0, 119.5 - 10.0])
