import cv2
import numpy as np
import pytest

from ragan_tf.data.synthetic_faces import render
from ragan_tf.faces.affine import invert_transform, transform_points, warp_image
from ragan_tf.faces.alignment import align_face
from ragan_tf.faces.detection import FaceDetector
from ragan_tf.inference.paste_back import blend_weights, paste_back, paste_back_all

skimage_data = pytest.importorskip("skimage.data")

BLUE = (20, 40, 230)
ORANGE = (250, 140, 10)


@pytest.fixture(scope="module")
def astronaut():
    return skimage_data.astronaut()


@pytest.fixture(scope="module")
def astronaut_face(astronaut):
    (landmarks,) = FaceDetector().detect(astronaut)
    return align_face(astronaut, landmarks, "ffhq_aging", 256)


@pytest.fixture(scope="module")
def two_faces():
    """Two synthetic faces side by side, rotated differently, aligned from their known landmarks."""
    photo = np.full((220, 400, 3), 90, np.uint8)
    faces = []
    for identity, age, degrees, centre_x in [(4, 30.0, 12.0, 100.0), (9, 55.0, -8.0, 300.0)]:
        face = render(identity, age, 128)
        matrix = cv2.getRotationMatrix2D((63.5, 63.5), degrees, 1.2)
        matrix[:, 2] += np.array([centre_x, 110.0]) - 63.5
        placed = warp_image(face.image, matrix, (400, 220), border_mode=cv2.BORDER_CONSTANT)
        inside = warp_image(np.ones((128, 128), np.uint8), matrix, (400, 220), cv2.BORDER_CONSTANT, cv2.INTER_NEAREST)
        photo = np.where(inside[..., None] > 0, placed, photo)
        faces.append(transform_points(matrix, face.landmarks))
    return photo, [align_face(photo, landmarks, "synthetic", 64) for landmarks in faces]


def constant(colour, size):
    return np.broadcast_to(np.asarray(colour, np.uint8), (size, size, 3)).copy()


def photo_weights(photo, face):
    """The blend weight in photo coordinates."""
    crop_to_photo = invert_transform(face.transform)
    size = (photo.shape[1], photo.shape[0])
    return warp_image(blend_weights(face.mask), crop_to_photo, size, cv2.BORDER_CONSTANT, cv2.INTER_LINEAR)


def psnr(a, b, where):
    error = ((a.astype(np.float64) - b) ** 2)[where].mean()
    return 10 * np.log10(255.0**2 / error)


def test_blend_weights_are_one_inside_and_exactly_zero_outside(astronaut_face):
    weights = blend_weights(astronaut_face.mask)
    assert weights.shape == (256, 256) and weights.dtype == np.float32
    nose = np.round(astronaut_face.crop_landmarks[30]).astype(int)
    assert weights[nose[1], nose[0]] == 1.0
    assert (weights[0] == 0).all() and (weights[-1] == 0).all() and (weights[:, 0] == 0).all()
    assert (weights[astronaut_face.mask == 0] == 0).mean() > 0.95
    assert ((weights > 0) & (weights < 1)).sum() > 500  # a soft seam, not a hard cut


def test_pixels_outside_the_seam_are_byte_identical(astronaut, astronaut_face):
    before = astronaut.copy()
    result = paste_back(astronaut, constant(BLUE, 256), astronaut_face)
    np.testing.assert_array_equal(astronaut, before)  # the input is not modified
    changed = np.any(result != astronaut, axis=-1)
    support = cv2.dilate((photo_weights(astronaut, astronaut_face) > 0).astype(np.uint8), np.ones((3, 3)))
    assert changed.any() and not (changed & (support == 0)).any()
    assert changed.sum() < 0.1 * changed.size
    nose = np.round(astronaut_face.landmarks[30]).astype(int)
    np.testing.assert_array_equal(result[nose[1], nose[0]], BLUE)


def test_pasting_the_unchanged_crop_gives_the_photo_back(astronaut, astronaut_face):
    result = paste_back(astronaut, astronaut_face.crop, astronaut_face)
    face_region = photo_weights(astronaut, astronaut_face) > 0
    assert psnr(result, astronaut, face_region) > 35.0


def test_aged_crop_of_another_size_is_rescaled(astronaut, astronaut_face):
    for size in (128, 512):
        result = paste_back(astronaut, constant(BLUE, size), astronaut_face)
        nose = np.round(astronaut_face.landmarks[30]).astype(int)
        np.testing.assert_array_equal(result[nose[1], nose[0]], BLUE)
        same_size = paste_back(astronaut, constant(BLUE, 256), astronaut_face)
        changed, changed_same = (np.any(image != astronaut, axis=-1) for image in (result, same_size))
        assert (changed != changed_same).mean() < 0.005
    upscaled = cv2.resize(astronaut_face.crop, (512, 512), interpolation=cv2.INTER_CUBIC)
    result = paste_back(astronaut, upscaled, astronaut_face)
    assert psnr(result, astronaut, photo_weights(astronaut, astronaut_face) > 0) > 33.0


def test_match_colour_removes_a_colour_cast(astronaut, astronaut_face):
    cast = np.clip(astronaut_face.crop.astype(int) + [40, -25, 30], 0, 255).astype(np.uint8)
    region = photo_weights(astronaut, astronaut_face) > 0.5
    plain = paste_back(astronaut, cast, astronaut_face)
    matched = paste_back(astronaut, cast, astronaut_face, match_colour=True)
    assert psnr(matched, astronaut, region) > psnr(plain, astronaut, region) + 8.0
    shift = (matched.astype(float) - astronaut)[region].mean(0)
    assert np.abs(shift).max() < 3.0


def test_two_faces(two_faces):
    photo, faces = two_faces
    assert [face.crop.shape for face in faces] == [(64, 64, 3)] * 2
    result = paste_back_all(photo, [(constant(BLUE, 64), faces[0]), (constant(ORANGE, 64), faces[1])])
    for face, colour in zip(faces, (BLUE, ORANGE)):
        nose = np.round(face.landmarks[2]).astype(int)
        np.testing.assert_array_equal(result[nose[1], nose[0]], colour)
    np.testing.assert_array_equal(result[:, 190:210], photo[:, 190:210])  # between the faces
    # At 64 px the crops are smaller than the faces (detail is lost); at 160 px about 1:1.
    faces = [align_face(photo, face.landmarks, "synthetic", 160) for face in faces]
    identical = paste_back_all(photo, [(face.crop, face) for face in faces])
    assert all(psnr(identical, photo, photo_weights(photo, face) > 0) > 35.0 for face in faces)


def test_bad_inputs_are_refused(astronaut, astronaut_face):
    with pytest.raises(ValueError, match="aged_crop must be uint8"):
        paste_back(astronaut, astronaut_face.crop.astype(np.float32), astronaut_face)
    with pytest.raises(ValueError, match="square"):
        paste_back(astronaut, astronaut_face.crop[:, :200], astronaut_face)
