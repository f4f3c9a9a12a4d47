"""Image metrics (PSNR, SSIM, L1, FID, KID) against hand values and closed forms; InceptionV3 features offline."""

import math

import numpy as np
import pytest

from ragan_tf.evaluation import image_metrics as im
from ragan_tf.evaluation import inception

# ----------------------------------------------------------------------------
# PSNR, L1


def test_psnr_hand_value():
    a = np.zeros((2, 2), np.uint8)
    b = a.copy()
    b[1, 0] = 10
    mse = 10.0**2 / 4  # one of four pixels off by 10
    expected = 10 * math.log10(255.0**2 / mse)
    assert im.masked_psnr(a, b) == pytest.approx(expected, abs=1e-12)
    assert im.psnr(a, b) == pytest.approx(expected, abs=1e-12)
    # Channels count as samples: the same error in 1 of 3 channels over a 2x2 image -> MSE 100 / 12.
    a3, b3 = np.zeros((2, 2, 3)), np.zeros((2, 2, 3))
    b3[0, 0, 1] = 10
    assert im.masked_psnr(a3, b3) == pytest.approx(10 * math.log10(255.0**2 / (100 / 12)), abs=1e-12)
    # data_range 2 for [-1, 1] images.
    assert im.masked_psnr(np.zeros(4).reshape(2, 2), np.full((2, 2), 0.5), data_range=2.0) == pytest.approx(
        10 * math.log10(4 / 0.25))


def test_psnr_identical_and_masked_out_change_are_infinite():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (2, 8, 8, 3)).astype(np.uint8)
    assert im.masked_psnr(a, a) == math.inf
    b = a.copy()
    b[:, :3, :3] = 0  # the changed region ...
    mask = np.ones((8, 8))
    mask[:3, :3] = 0  # ... is outside the mask
    assert im.masked_psnr(a, b) < 40
    assert im.masked_psnr(a, b, mask=mask) == math.inf
    assert im.masked_psnr(a, b, mask=mask[None, :, :, None].repeat(2, axis=0)) == math.inf  # [N, H, W, 1]
    assert im.masked_psnr(a, b, mask=1 - mask) == pytest.approx(im.masked_psnr(a[:, :3, :3], b[:, :3, :3]))


def test_masks_are_weights():
    a = np.zeros((1, 2))
    b = np.array([[4.0, 8.0]])
    assert im.l1_error(a, b, mask=[[1.0, 0.5]]) == pytest.approx((4 + 0.5 * 8) / 1.5)
    assert im.masked_psnr(a, b, mask=[[1.0, 0.0]], data_range=16.0) == pytest.approx(10 * math.log10(256 / 16))


def test_l1_hand_value():
    a = np.array([[0, 0], [0, 0]], np.uint8)
    b = np.array([[4, 0], [0, 8]], np.uint8)  # uint8 differences must not wrap around
    assert im.l1_error(a, b) == 3.0
    assert im.l1_error(b, a) == 3.0
    assert im.l1_error(a, b, mask=[[1, 1], [0, 0]]) == 2.0
    assert im.l1_error(a, b, mask=[[0, 0], [0, 1]]) == 8.0


def test_pixel_metric_errors():
    with pytest.raises(ValueError, match="same shape"):
        im.masked_psnr(np.zeros((4, 4)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match="mask must be"):
        im.l1_error(np.zeros((4, 4, 3)), np.zeros((4, 4, 3)), mask=np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        im.l1_error(np.zeros((4, 4)), np.zeros((4, 4)), mask=np.full((4, 4), 255))
    with pytest.raises(ValueError, match="no pixels"):
        im.masked_psnr(np.zeros((4, 4)), np.ones((4, 4)), mask=np.zeros((4, 4)))
    with pytest.raises(ValueError, match="at least 11"):
        im.masked_ssim(np.zeros((8, 8)), np.zeros((8, 8)))


# ----------------------------------------------------------------------------
# SSIM


def test_ssim_identical_is_one():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (2, 24, 24, 3)).astype(np.uint8)
    assert im.masked_ssim(a, a) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("shape, data_range", [((40, 48, 3), 255.0), ((33, 29), 255.0), ((32, 32, 3), 2.0)])
def test_ssim_matches_scikit_image(shape, data_range):
    metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(2)
    if data_range == 2.0:
        a = rng.uniform(-1, 1, shape)
        b = np.clip(a + rng.normal(0, 0.3, shape), -1, 1)
    else:
        a = rng.integers(0, 256, shape).astype(np.float64)
        a = (a + np.roll(a, 1, axis=0) + np.roll(a, 1, axis=1)) / 3  # some structure
        b = np.clip(a + rng.normal(0, 25, shape), 0, 255)
    expected = metrics.structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
        channel_axis=-1 if len(shape) == 3 else None, data_range=data_range,
    )
    got = im.masked_ssim(a, b, data_range=data_range)
    assert 0.05 < got < 0.95
    assert got == pytest.approx(expected, abs=1e-3)
    assert got == pytest.approx(expected, abs=1e-10)  # the same computation, in fact


def test_masked_ssim_only_looks_inside_the_mask():
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (64, 64, 3)).astype(np.float64)
    b = a.copy()
    b[:, 40:] = rng.integers(0, 256, (64, 24, 3))  # changed: columns 40 and up
    mask = np.zeros((64, 64))
    mask[10:54, 8:30] = 1.0  # the 11x11 window around column 29 reaches column 34 < 40
    assert im.masked_ssim(a, b) < 0.9
    assert im.masked_ssim(a, b, mask=mask) == pytest.approx(1.0, abs=1e-12)
    # A mask over the changed region sees the change, and equals the weighted mean of the SSIM map.
    inside = np.zeros((64, 64))
    inside[10:54, 42:58] = 1.0
    ssim_map = im.ssim_map(a, b)[0].mean(axis=-1)
    assert im.masked_ssim(a, b, mask=inside) == pytest.approx(ssim_map[inside > 0].mean(), abs=1e-12)
    assert im.masked_ssim(a, b, mask=inside) < 0.5


# ----------------------------------------------------------------------------
# FID


def test_fid_identical_sets_is_zero():
    rng = np.random.default_rng(4)
    features = rng.normal(size=(300, 16)) @ rng.normal(size=(16, 16))
    assert abs(im.fid(features, features)) < 1e-6
    mu, sigma = im.feature_statistics(features)
    assert abs(im.frechet_distance(mu, sigma, mu, sigma)) < 1e-6


def test_frechet_distance_diagonal_closed_form_and_symmetry():
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.5])
    s1, s2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))  # 7.25 + 4 + 1 + 0
    assert expected == pytest.approx(12.25)
    assert im.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, abs=1e-10)
    assert im.frechet_distance(mu2, np.diag(s2), mu1, np.diag(s1)) == pytest.approx(expected, abs=1e-10)
    assert im.frechet_distance(0.0, 1.0, 1.0, 4.0) == pytest.approx(2.0)  # 1-D, scalars

    # On large samples, fid approaches the closed form.
    rng = np.random.default_rng(5)
    a = mu1 + rng.normal(size=(40000, 3)) * np.sqrt(s1)
    b = mu2 + rng.normal(size=(40000, 3)) * np.sqrt(s2)
    assert im.fid(a, b) == pytest.approx(expected, rel=0.02)
    assert im.fid(a, b) == pytest.approx(im.fid(b, a), abs=1e-9)


def test_frechet_distance_non_commuting_covariances():
    rng = np.random.default_rng(6)
    d = 6
    x, y = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    s1, s2 = x @ x.T + 0.1 * np.eye(d), y @ y.T + 0.1 * np.eye(d)
    assert not np.allclose(s1 @ s2, s2 @ s1)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    # Direct: sqrtm(S1 S2) from the (non-symmetric) eigendecomposition of S1 S2.
    values, vectors = np.linalg.eig(s1 @ s2)
    root = (vectors * np.sqrt(values.astype(complex))) @ np.linalg.inv(vectors)
    assert np.allclose(root @ root, s1 @ s2)
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2) - 2 * np.trace(root).real
    assert im.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)
    assert im.frechet_distance(mu2, s2, mu1, s1) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_singular_covariances():
    """Fewer samples than dimensions (rank-deficient covariances), as with small sets of 2048-d features."""
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(20, 64)), rng.normal(0.3, 1.0, (25, 64))
    value = im.fid(a, b)
    assert np.isfinite(value) and value > 0
    assert value == pytest.approx(im.fid(b, a), rel=1e-8)


def test_fid_errors():
    with pytest.raises(ValueError, match="at least 2"):
        im.fid(np.zeros((1, 4)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="at least 2"):
        im.feature_statistics(np.zeros((1, 4)))
    with pytest.raises(ValueError, match="dimensions differ"):
        im.fid(np.zeros((5, 4)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="2-D"):
        im.fid(np.zeros(5), np.zeros(5))
    with pytest.raises(ValueError, match="same D"):
        im.frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))


# ----------------------------------------------------------------------------
# KID


def _kid_by_loops(x, y):
    d = x.shape[1]

    def k(u, v):
        return (float(np.dot(u, v)) / d + 1.0) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_kid_unbiased_estimator_by_hand():
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(3, 4)), rng.normal(0.5, 1.0, (3, 4))
    mean, std = im.kid(x, y, subsets=4, subset_size=1000)  # subsets of 3 = whole sets, in some order
    assert mean == pytest.approx(_kid_by_loops(x, y), rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)
    # Subsets smaller than the sets: each is one estimate on a random subset; the seed fixes them.
    a, b = rng.normal(size=(10, 4)), rng.normal(size=(12, 4))
    assert im.kid(a, b, subsets=3, subset_size=5, seed=1) == im.kid(a, b, subsets=3, subset_size=5, seed=1)
    assert im.kid(a, b, subsets=3, subset_size=5, seed=1) != im.kid(a, b, subsets=3, subset_size=5, seed=2)


def test_kid_same_distribution_near_zero_shifted_positive():
    rng = np.random.default_rng(9)
    a, b = rng.normal(size=(600, 16)), rng.normal(size=(600, 16))
    shifted = rng.normal(0.5, 1.0, (600, 16))
    same_mean, same_std = im.kid(a, b, subsets=10, subset_size=300)
    shift_mean, shift_std = im.kid(a, shifted, subsets=10, subset_size=300)
    assert shift_mean > 10 * max(same_std, shift_std)
    assert abs(same_mean) < 0.05 * shift_mean
    assert im.kid(a, a, subsets=3, subset_size=300)[0] < 0.05 * shift_mean  # unbiased, not exactly 0


def test_kid_errors():
    with pytest.raises(ValueError, match="at least 2"):
        im.kid(np.zeros((1, 4)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="dimensions differ"):
        im.kid(np.zeros((5, 4)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="subset_size"):
        im.kid(np.zeros((5, 4)), np.zeros((5, 4)), subset_size=1)


# ----------------------------------------------------------------------------
# InceptionV3 features (random weights; the ImageNet file is never fetched)


@pytest.fixture(scope="module")
def extractor():
    return inception.InceptionFeatures(weights=None, batch_size=3, input_size=inception.MIN_INPUT_SIZE)


@pytest.fixture
def no_network(monkeypatch, tmp_path):
    """An empty Keras cache in tmp, and a `keras.utils.get_file` that fails if anything calls it."""
    import keras

    cache = tmp_path / "keras_models"
    cache.mkdir()
    monkeypatch.setattr(inception, "keras_cache_dirs", lambda: [str(cache)])

    def no_download(*args, **kwargs):
        raise AssertionError("keras.utils.get_file must not be called")

    monkeypatch.setattr(keras.utils, "get_file", no_download)
    return cache


def _save_legacy_h5(model, path):
    """Weights in the legacy Keras .h5 layout of the ImageNet file Keras downloads."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    return str(path)


def test_inception_features_shape_and_inputs(extractor):
    assert extractor.random_weights and "RANDOM" in extractor.description
    rng = np.random.default_rng(10)
    images = rng.integers(0, 256, (5, 40, 52, 3)).astype(np.uint8)  # another size, batched 3 + 2
    features = extractor(images)
    assert features.shape == (5, inception.FEATURE_DIM) and features.dtype == np.float64
    assert np.all(np.isfinite(features)) and np.std(features) > 0
    # Float images in [-1, 1] with value_range give the same features as the uint8 originals.
    as_float = extractor(images.astype(np.float32) / 127.5 - 1.0, value_range=(-1.0, 1.0))
    np.testing.assert_allclose(as_float, features, rtol=1e-4, atol=1e-5)
    # Per-image: batching does not change the result.
    np.testing.assert_allclose(extractor(images[3:4]), features[3:4], rtol=1e-4, atol=1e-5)
    assert extractor(images[:0]).shape == (0, inception.FEATURE_DIM)
    with pytest.raises(ValueError, match="Images must be"):
        extractor(np.zeros((2, 8, 8, 4), np.uint8))


def test_imagenet_without_cache_or_permission_raises_clear_error(no_network):
    with pytest.raises(inception.InceptionWeightsUnavailable) as error:
        inception.InceptionFeatures(weights="imagenet")
    message = str(error.value)
    assert "allow_download=True" in message and "--allow-download" in message
    assert inception.WEIGHTS_URL in message and "weights=PATH" in message and "--fid-weights" in message
    assert inception.WEIGHTS_URL == (
        "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
        "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
    )
    with pytest.raises(FileNotFoundError, match="not found"):
        inception.InceptionFeatures(weights=str(no_network / "missing.weights.h5"))
    with pytest.raises(ValueError, match="input_size"):
        inception.InceptionFeatures(weights=None, input_size=64)


def test_local_weights_file_round_trips(extractor, tmp_path, no_network):
    path = tmp_path / "inception.weights.h5"
    extractor.model.save_weights(path)
    loaded = inception.InceptionFeatures(weights=path, input_size=inception.MIN_INPUT_SIZE)
    assert not loaded.random_weights and str(path) in loaded.description
    images = np.random.default_rng(11).integers(0, 256, (2, 75, 75, 3)).astype(np.uint8)
    np.testing.assert_allclose(loaded(images), extractor(images), rtol=1e-6, atol=1e-6)


def test_imagenet_from_cache_is_silent_and_download_needs_permission(extractor, no_network, monkeypatch, capsys):
    import keras

    images = np.random.default_rng(12).integers(0, 256, (2, 60, 60, 3)).astype(np.uint8)
    expected = extractor(images)
    legacy = _save_legacy_h5(extractor.model, no_network.parent / "downloaded.h5")

    # Allowed download: one line naming the URL and the cache folder; get_file (mocked) does the fetch.
    calls = []

    def fake_get_file(fname, origin, **kwargs):
        calls.append((fname, origin, kwargs))
        return legacy

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    downloaded = inception.InceptionFeatures(weights="imagenet", input_size=75, allow_download=True)
    notice = capsys.readouterr().out.strip().splitlines()
    assert len(notice) == 1 and inception.WEIGHTS_URL in notice[0] and str(no_network) in notice[0]
    assert calls == [(inception.WEIGHTS_FILE, inception.WEIGHTS_URL,
                      {"cache_subdir": "models", "file_hash": inception.WEIGHTS_MD5})]
    np.testing.assert_allclose(downloaded(images), expected, rtol=1e-6, atol=1e-6)

    # Cached (the legacy .h5 layout of the real file): no notice, no download, even without permission.
    (no_network / inception.WEIGHTS_FILE).write_bytes(open(legacy, "rb").read())
    calls.clear()
    cached = inception.InceptionFeatures(weights="imagenet", input_size=75)
    assert capsys.readouterr().out == "" and calls == []
    assert cached.weights_path == str(no_network / inception.WEIGHTS_FILE)
    np.testing.assert_allclose(cached(images), expected, rtol=1e-6, atol=1e-6)
