import hashlib

import numpy as np
import pytest

from ragan_tf.data import synthetic_faces
from ragan_tf.data.face_mask import DEFAULT_NON_FACE_LABELS, face_mask_from_parsing
from ragan_tf.data.synthetic_faces import PARSING_CLASSES, render

STATIC_CLASSES = (PARSING_CLASSES["background"], PARSING_CLASSES["cloth"])
HEAD_CLASSES = tuple(index for index in PARSING_CLASSES.values() if index not in STATIC_CLASSES)


def face_mask(face):
    return np.isin(face.parsing, HEAD_CLASSES)


def digest(face):
    return hashlib.sha256(face.image.tobytes() + face.parsing.tobytes() + face.landmarks.tobytes()).hexdigest()


def test_parsing_classes_are_the_ffhq_aging_indices():
    names = ["background", "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear",
             "mouth", "u_lip", "l_lip", "hair", "hat", "ear_r", "neck_l", "neck", "cloth"]
    assert PARSING_CLASSES == {name: index for index, name in enumerate(names)}


def test_render_is_deterministic_and_cache_independent():
    first = render(7, 41.3, 64, seed=3)
    synthetic_faces._identity_traits.cache_clear()
    synthetic_faces._static_layers.cache_clear()
    second = render(7, 41.3, 64, seed=3)
    assert digest(first) == digest(second)
    assert digest(render(8, 41.3, 64, seed=3)) != digest(first)
    assert digest(render(7, 41.3, 64, seed=4)) != digest(first)
    assert digest(render(7, 46.3, 64, seed=3)) != digest(first)


def test_render_matches_the_recorded_bytes():
    """Same bytes on every machine; a deliberate drawing change must update this digest
    (and bump the tfds builder VERSION, since stored datasets change)."""
    assert digest(render(3, 47.5, 64)) == "5cef7847d8b8f4e40d5f347b6f32978fcc70e49664f38987a869a58b8b422380"


@pytest.mark.parametrize("size", [32, 64, 100, 128, 256])
def test_shapes_dtypes_and_label_ranges(size):
    face = render(11, 33.0, size)
    assert face.image.shape == (size, size, 3) and face.image.dtype == np.uint8
    assert face.parsing.shape == (size, size) and face.parsing.dtype == np.uint8
    assert face.landmarks.shape == (5, 2) and face.landmarks.dtype == np.float32
    assert set(np.unique(face.parsing)) <= set(PARSING_CLASSES.values())
    for name in ("background", "skin", "nose", "l_eye", "r_eye", "hair", "neck", "cloth"):
        assert (face.parsing == PARSING_CLASSES[name]).any(), name
    assert (face.identity, face.age, face.gender) == (11, 33.0, synthetic_faces.identity_traits(11).gender)


def test_landmarks_scale_with_size_and_sit_on_their_parts():
    small, large = render(5, 50.0, 64), render(5, 50.0, 128)
    np.testing.assert_allclose((small.landmarks + 0.5) * 2.0 - 0.5, large.landmarks, atol=1e-4)
    for identity in range(12):
        face = render(identity, 20.0 + 5 * identity, 128)
        (left_eye, right_eye, nose, left_mouth, right_mouth) = face.landmarks
        assert ((face.landmarks >= 0) & (face.landmarks <= 127)).all()
        assert left_eye[0] < nose[0] < right_eye[0] and left_mouth[0] < nose[0] < right_mouth[0]
        assert max(left_eye[1], right_eye[1]) < nose[1] < min(left_mouth[1], right_mouth[1])

        def label_at(point):
            return face.parsing[int(round(point[1])), int(round(point[0]))]

        assert label_at(left_eye) == PARSING_CLASSES["l_eye"]
        assert label_at(right_eye) == PARSING_CLASSES["r_eye"]
        assert label_at(nose) == PARSING_CLASSES["nose"]
        lips = [PARSING_CLASSES[name] for name in ("mouth", "u_lip", "l_lip")]
        for corner in (left_mouth, right_mouth):
            x, y = int(round(corner[0])), int(round(corner[1]))
            assert np.isin(face.parsing[y - 1 : y + 2, x - 1 : x + 2], lips).any()


def most_common_colour(pixels):
    colours, counts = np.unique(pixels, axis=0, return_counts=True)
    return tuple(int(channel) for channel in colours[np.argmax(counts)])


def test_parsing_agrees_with_the_image():
    for identity in range(8):
        traits = synthetic_faces.identity_traits(identity)
        face = render(identity, 30.0, 128)  # adult, before greying and skin paling
        skin = face.image[face.parsing == PARSING_CLASSES["skin"]]
        assert most_common_colour(skin) == traits.skin_colour
        hair = face.image[face.parsing == PARSING_CLASSES["hair"]]
        assert most_common_colour(hair) == traits.hair_colour
        background = face.image[face.parsing == PARSING_CLASSES["background"]]
        assert most_common_colour(background) != traits.skin_colour


def test_face_is_centred_and_plausibly_sized():
    for identity in range(10):
        for age in (1.0, 30.0, 85.0):
            mask = face_mask(render(identity, age, 64))
            ys, xs = np.nonzero(mask)
            assert abs(xs.mean() - 31.5) < 2.0
            assert 0.12 < mask.mean() < 0.5
            assert ys.min() > 0 and ys.max() < 63 and xs.min() > 2 and xs.max() < 61


@pytest.mark.parametrize("size", [32, 64, 128])
def test_background_and_clothing_are_identical_at_every_age(size):
    for identity in range(6):
        reference = render(identity, 10.0, size)
        for age in (0.0, 4.0, 25.0, 50.0, 80.0, 90.0):
            face = render(identity, age, size)
            static = np.isin(face.parsing, STATIC_CLASSES) & np.isin(reference.parsing, STATIC_CLASSES)
            assert static.mean() > 0.4
            np.testing.assert_array_equal(face.image[static], reference.image[static])
            np.testing.assert_array_equal(face.parsing[static], reference.parsing[static])


def test_identity_traits_persist_across_ages():
    traits = synthetic_faces.identity_traits(4)
    assert traits == synthetic_faces.identity_traits(4) and traits != synthetic_faces.identity_traits(5)
    young, old = render(4, 25.0, 256), render(4, 60.0, 256)
    for face in (young, old):
        eyes = np.isin(face.parsing, (PARSING_CLASSES["l_eye"], PARSING_CLASSES["r_eye"]))
        iris = np.all(face.image == traits.eye_colour, axis=-1)
        assert (iris & eyes).sum() > 20 and iris[~eyes].sum() == 0
    assert young.gender == old.gender == traits.gender


def test_child_and_old_person_differ_in_the_face_only():
    for identity in range(6):
        child, old = render(identity, 5.0, 64), render(identity, 80.0, 64)
        face = face_mask(child) | face_mask(old)
        difference = np.abs(child.image.astype(int) - old.image.astype(int)).mean(axis=-1)
        assert difference[face].mean() > 25
        assert difference[~face].max() == 0
        assert face_mask(child).sum() < 0.9 * face_mask(old).sum()  # smaller head


def test_adult_ages_are_distinguishable():
    """Mean colour change on the face: 20 -> 40 (lines begin) and 40 -> 70 (grey, pale, deep lines)."""
    young_to_middle, middle_to_old = [], []
    for identity in range(8):
        faces = {age: render(identity, age, 64) for age in (20.0, 40.0, 70.0)}
        mask = face_mask(faces[40.0])

        def change(a, b):
            return np.abs(faces[a].image.astype(int) - faces[b].image.astype(int)).mean(axis=-1)[mask].mean()

        young_to_middle.append(change(20.0, 40.0))
        middle_to_old.append(change(40.0, 70.0))
    assert min(young_to_middle) > 0.3 and np.mean(young_to_middle) > 1.5
    assert min(middle_to_old) > 8.0


@pytest.mark.parametrize(
    "identity, age, size",
    [(0, 30.0, 31), (0, 30.0, 257), (0, 30.0, 64.0), (0, 30.0, "64"), (0, -0.5, 64), (0, 90.5, 64),
     (0, float("nan"), 64), (0, "old", 64), (-1, 30.0, 64), (1.5, 30.0, 64)],
)
def test_invalid_arguments_raise_value_error(identity, age, size):
    with pytest.raises(ValueError, match="size|age|identity"):
        render(identity, age, size)


def test_split_is_disjoint_covering_and_seeded():
    train, test = synthetic_faces.split_identities(50, 0.2, seed=1)
    assert len(test) == 10 and len(train) == 40
    assert set(train).isdisjoint(test) and set(train) | set(test) == set(range(50))
    again = synthetic_faces.split_identities(50, 0.2, seed=1)
    assert np.array_equal(again[0], train) and np.array_equal(again[1], test)
    assert not np.array_equal(synthetic_faces.split_identities(50, 0.2, seed=2)[1], test)
    with pytest.raises(ValueError):
        synthetic_faces.split_identities(50, 1.0)


def test_sample_age_is_deterministic_and_spread():
    ages = [synthetic_faces.sample_age(9, index) for index in range(10)]
    assert ages == [synthetic_faces.sample_age(9, index) for index in range(10)]
    assert all(0.0 <= age <= synthetic_faces.MAX_AGE for age in ages)
    assert np.diff(np.sort([0.0, *ages, 90.0])).max() < 20.0
    assert ages != [synthetic_faces.sample_age(10, index) for index in range(10)]


def test_generate_examples_matches_render():
    examples = list(synthetic_faces.generate_examples([2, 9], 3, size=32, seed=5))
    assert len({example["key"] for example in examples}) == 6
    for example in examples:
        face = render(example["identity"], example["age"], 32, seed=5)
        assert example["age"] in [synthetic_faces.sample_age(example["identity"], i, 5) for i in range(3)]
        np.testing.assert_array_equal(example["image"], face.image)
        np.testing.assert_array_equal(example["parsing"], face.parsing)
        np.testing.assert_array_equal(example["landmarks"], face.landmarks)
        assert example["gender"] == face.gender


def test_sizes_render_the_same_picture():
    small = render(6, 62.0, 64).image.astype(np.float32)
    large = render(6, 62.0, 256).image.astype(np.float32)
    downsampled = large.reshape(64, 4, 64, 4, 3).mean(axis=(1, 3))
    assert np.abs(downsampled - small).mean() < 2.0


@pytest.mark.parametrize("non_face_labels", [DEFAULT_NON_FACE_LABELS, (0, 13, 18)])
def test_render_faces_matches_render_and_face_mask(non_face_labels):
    identities, ages = [4, np.int64(11)], [25.0, np.float32(70.5)]
    faces = synthetic_faces.render_faces(identities, ages, 48, seed=2, non_face_labels=non_face_labels)
    images, masks = faces
    assert images.shape == (2, 48, 48, 3) and images.dtype == np.uint8
    assert masks.shape == (2, 48, 48, 1) and masks.dtype == np.float32
    for index, (identity, age) in enumerate(zip(identities, ages)):
        face = render(identity, age, 48, seed=2)
        np.testing.assert_array_equal(images[index], face.image)
        np.testing.assert_array_equal(masks[index, ..., 0], face_mask_from_parsing(face.parsing, non_face_labels))
    assert 0.0 < masks.mean() < 1.0


def test_render_faces_empty_and_invalid_arguments():
    images, masks = synthetic_faces.render_faces([], [], 32)
    assert images.shape == (0, 32, 32, 3) and images.dtype == np.uint8
    assert masks.shape == (0, 32, 32, 1) and masks.dtype == np.float32
    with pytest.raises(ValueError):
        synthetic_faces.render_faces([1, 2], [30.0], 32)
    with pytest.raises(ValueError):
        synthetic_faces.render_faces([1], [30.0], 16)
    with pytest.raises(ValueError):
        synthetic_faces.render_faces([1], [120.0], 32)
