"""ProGAN's sliced Wasserstein distance (`ragan_tf.evaluation.swd`) against a NumPy reference.

The reference below is written from the paper's description in float64 with
the 2-D 5x5 kernel (the module uses the separable 1-D taps in float32) and
draws its random numbers in the order the module's docstrings document.
"""

import doctest
import math

import numpy as np
import pytest

from ragan_tf.evaluation import swd as swd_module
from ragan_tf.evaluation.swd import laplacian_pyramid, pyramid_descriptors, sliced_wasserstein, swd

# float32 unit roundoff.
U32 = 2.0**-24

# Pyramid values are convex combinations of the pixels (Gaussian levels, |g| <= 1) or differences of two
# (band-pass levels, |l| <= 2). Each level passes through <= 3 downsamplings and 1 upsampling, each two
# 5-term sums with non-negative weights that sum to 1, so float32 rounding adds up to well under
# ~60 roundings of magnitude <= 2: 60 * 2 * U32 ~ 7e-6.
PYRAMID_ATOL = 1e-5


# ----------------------------------------------------------------------------
# NumPy reference (float64)

KERNEL_2D = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256.0


def ref_to_float(images):
    images = np.asarray(images)
    return images / 127.5 - 1.0 if images.dtype == np.uint8 else images.astype(np.float64)


def ref_blur(x, gain=1.0):
    n, h, w, c = x.shape
    # NumPy's "reflect" is scipy.ndimage's "mirror" and cv2's BORDER_REFLECT_101 (d c b | a b c d).
    p = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
    return sum(gain * KERNEL_2D[i, j] * p[:, i : i + h, j : j + w] for i in range(5) for j in range(5))


def ref_up(x, size):
    n, h, w, c = x.shape
    z = np.zeros((n, 2 * h, 2 * w, c))
    z[:, ::2, ::2] = x
    return ref_blur(z[:, : size[0], : size[1]], 4.0)


def ref_pyramid(images, min_size=16):
    gaussians = [ref_to_float(images)]
    while min(gaussians[-1].shape[1:3]) >= 2 * min_size:
        gaussians.append(ref_blur(gaussians[-1])[:, ::2, ::2])
    laps = [g - ref_up(coarser, g.shape[1:3]) for g, coarser in zip(gaussians[:-1], gaussians[1:])]
    return laps + [gaussians[-1]]


def ref_descriptors(images, k, patch=7, min_size=16, seed=0):
    """(normalised descriptors, per-channel std before normalisation) per level."""
    levels = ref_pyramid(images, min_size)
    rng = np.random.default_rng(seed)
    r = patch // 2
    n = levels[0].shape[0]
    positions = [(rng.integers(r, lv.shape[1] - r, (n, k)), rng.integers(r, lv.shape[2] - r, (n, k))) for lv in levels]
    out = []
    for level, (rows, cols) in zip(levels, positions):
        windows = np.lib.stride_tricks.sliding_window_view(level, (patch, patch), axis=(1, 2))  # [n, ., ., c, p, p]
        d = windows[np.arange(n)[:, None], rows - r, cols - r]  # [n, k, c, p, p]
        d = d.transpose(0, 1, 3, 4, 2).reshape(n * k, patch * patch, 3)  # (row, column, channel)
        mean, std = d.mean(axis=(0, 1)), d.std(axis=(0, 1))
        out.append((((d - mean) / std).reshape(n * k, -1), std))
    return out


def ref_sliced_wasserstein(a, b, directions, repeats, seed):
    rng = np.random.default_rng(seed)
    if len(a) > len(b):
        a = a[np.sort(rng.choice(len(a), len(b), replace=False))]
    elif len(b) > len(a):
        b = b[np.sort(rng.choice(len(b), len(a), replace=False))]
    results = []
    for _ in range(repeats):
        dirs = rng.standard_normal((a.shape[1], directions))
        dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
        results.append(np.mean(np.abs(np.sort(a @ dirs, axis=0) - np.sort(b @ dirs, axis=0))))
    return float(np.mean(results))


# ----------------------------------------------------------------------------
# Test images


def gaussian_blur(x, sigma):
    """Separable Gaussian blur of [N, H, W, C] with a 'valid' border (output smaller by 2 * 3 sigma)."""
    r = int(3 * sigma)
    t = np.arange(-r, r + 1)
    k = np.exp(-(t**2) / (2 * sigma**2))
    k /= k.sum()
    h, w = x.shape[1] - 2 * r, x.shape[2] - 2 * r
    x = sum(kk * x[:, i : i + h] for i, kk in enumerate(k))
    return sum(kk * x[:, :, i : i + w] for i, kk in enumerate(k))


def blur_same_size(x, sigma):
    r = int(3 * sigma)
    return gaussian_blur(np.pad(x, ((0, 0), (r, r), (r, r), (0, 0)), mode="reflect"), sigma).astype(np.float32)


# Correlated colour channels, so the images are not grey noise.
COLOUR_MIX = np.array([[1.0, 0.6, 0.2], [0.3, 1.0, 0.5], [0.1, 0.4, 1.0]])


def smooth_images(n, seed, size=64, sigma=2.0):
    """Random smooth colour images in (-1, 1): blurred, channel-mixed white noise through tanh."""
    r = int(3 * sigma)
    noise = np.random.default_rng(seed).standard_normal((n, size + 2 * r, size + 2 * r, 3))
    field = gaussian_blur(noise, sigma) @ COLOUR_MIX.T
    return np.tanh(1.5 * field / field.std()).astype(np.float32)


# ----------------------------------------------------------------------------
# Pyramid


@pytest.mark.parametrize("shape", [(64, 64), (50, 38)])
def test_pyramid_matches_reference_and_reconstructs(shape):
    images = np.random.default_rng(0).integers(0, 256, (3, *shape, 3), dtype=np.uint8)
    levels = [lv.numpy() for lv in laplacian_pyramid(images)]
    reference = ref_pyramid(images)
    assert [lv.shape for lv in levels] == [rf.shape for rf in reference]
    assert all(lv.dtype == np.float32 for lv in levels)
    for level, ref in zip(levels, reference):
        np.testing.assert_allclose(level, ref, rtol=0, atol=PYRAMID_ATOL)

    # Upsample and add from the coarsest level back. The upsampler's weights are non-negative and sum to 1
    # for every output pixel, so it does not amplify the levels' rounding: errors add, one PYRAMID_ATOL per level.
    image = levels[-1].astype(np.float64)
    for level in levels[-2::-1]:
        image = level + ref_up(image, level.shape[1:3])
    np.testing.assert_allclose(image, ref_to_float(images), rtol=0, atol=len(levels) * PYRAMID_ATOL)


def test_pyramid_levels_and_input_types():
    images = np.random.default_rng(1).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    levels = laplacian_pyramid(images)
    assert [tuple(lv.shape) for lv in levels] == [(2, 64, 64, 3), (2, 32, 32, 3), (2, 16, 16, 3)]
    # uint8 is mapped to [-1, 1]: the same pyramid as the float images (up to one float32 rounding of the input).
    as_float = laplacian_pyramid(images.astype(np.float32) / 127.5 - 1.0)
    for a, b in zip(levels, as_float):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=PYRAMID_ATOL)
    # Below 2 * min_size: one level, the image itself.
    (single,) = laplacian_pyramid(images[:, :31, :31])
    np.testing.assert_allclose(single.numpy(), ref_to_float(images[:, :31, :31]), rtol=0, atol=U32)
    assert [tuple(lv.shape[1:3]) for lv in laplacian_pyramid(images[:, :33, :40])] == [(33, 40), (17, 20)]
    sizes = [tuple(lv.shape[1:3]) for lv in laplacian_pyramid(images, min_size=8)]
    assert sizes == [(64, 64), (32, 32), (16, 16), (8, 8)]


# ----------------------------------------------------------------------------
# Descriptors and distances against the reference


@pytest.mark.parametrize("shape", [(64, 64), (50, 38)])
def test_descriptors_and_swd_match_reference(shape):
    rng = np.random.default_rng(2)
    images_a = rng.integers(0, 256, (6, *shape, 3), dtype=np.uint8)
    images_b = rng.integers(0, 256, (5, *shape, 3), dtype=np.uint8) // 2 + 64  # a lower-contrast set
    k, dirs, repeats, seed = 32, 48, 2, 3

    ref_a = ref_descriptors(images_a, k, seed=seed)
    ref_b = ref_descriptors(images_b, k, seed=seed)
    desc_a = pyramid_descriptors(images_a, descriptors_per_image=k, seed=seed)
    desc_b = pyramid_descriptors(images_b, descriptors_per_image=k, seed=seed)
    assert len(desc_a) == len(ref_a)
    level_sizes = [lv.shape[1:3] for lv in ref_pyramid(images_a)]

    def descriptor_atol(ref, std):
        # d = (x - mean) / std with x, mean off by <= PYRAMID_ATOL and std by <= PYRAMID_ATOL:
        # |dd| <= (2 + max|d|) * PYRAMID_ATOL / std (the final float32 rounding, U32 * |d|, is far smaller).
        return (2.0 + np.abs(ref).max()) * PYRAMID_ATOL / std.min()

    expected = {}
    for i, (da, db, (ra, sa), (rb, sb)) in enumerate(zip(desc_a, desc_b, ref_a, ref_b)):
        da, db = da.numpy(), db.numpy()
        assert da.shape == (6 * k, 147) and db.shape == (5 * k, 147) and da.dtype == np.float32
        atol_a, atol_b = descriptor_atol(ra, sa), descriptor_atol(rb, sb)
        np.testing.assert_allclose(da, ra, rtol=0, atol=atol_a)
        np.testing.assert_allclose(db, rb, rtol=0, atol=atol_b)

        # The distance alone, on the module's own descriptors in float64: only the float32 products
        # (|fl(u.x) - u.x| <= D * U32 * ||x||_2 for a unit u, any summation order) and the float32 directions
        # (sqrt(D) * U32 * ||x||_2) differ. Sorting is non-expansive in the max norm and the mean absolute
        # difference is 1-Lipschitz in each set, so the distance moves by at most both sets' largest errors.
        d = ra.shape[1]
        norm = max(np.linalg.norm(da, axis=1).max(), np.linalg.norm(db, axis=1).max())
        rounding = 2 * (d + math.sqrt(d)) * U32 * norm
        got = sliced_wasserstein(da, db, directions=dirs, repeats=repeats, seed=seed + i)
        want = ref_sliced_wasserstein(da.astype(np.float64), db.astype(np.float64), dirs, repeats, seed + i)
        assert isinstance(got, float) and want > 0.05
        assert abs(got - want) <= rounding, (got, want, rounding)
        # End to end against the reference descriptors: each descriptor is also off by <= atol per component,
        # ||dx||_2 <= sqrt(D) * atol (a looser bound, still far below the distances' differences between sets).
        end_to_end = ref_sliced_wasserstein(ra, rb, dirs, repeats, seed + i)
        assert abs(got - end_to_end) <= rounding + math.sqrt(d) * (atol_a + atol_b)
        h, w = level_sizes[i]
        expected[f"swd_{h}px" if h == w else f"swd_{h}x{w}px"] = (want * 1e3, rounding * 1e3)

    scores = swd(images_a, images_b, descriptors_per_image=k, directions=dirs, repeats=repeats, seed=seed)
    assert list(scores) == list(expected) + ["swd_mean"]
    for key, (want, tol) in expected.items():
        assert abs(scores[key] - want) <= tol, (key, scores[key], want, tol)
    assert scores["swd_mean"] == pytest.approx(np.mean([scores[key] for key in expected]), rel=1e-12)


def test_descriptors_do_not_depend_on_chunking(monkeypatch):
    images = np.random.default_rng(7).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    whole = pyramid_descriptors(images, descriptors_per_image=16)
    monkeypatch.setattr(swd_module, "_CHUNK_IMAGES", 2)
    for a, b in zip(whole, pyramid_descriptors(images, descriptors_per_image=16)):
        # Same positions and per-image pyramids; only the float64 statistics' summation order may differ.
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=1e-6)


# ----------------------------------------------------------------------------
# Behaviour on image distributions

# Small settings keep these fast; every comparison shares positions and directions (same seed).
SMALL = dict(descriptors_per_image=64, directions=128, repeats=2)


def test_swd_of_a_set_with_itself_is_zero():
    images = smooth_images(8, seed=0)
    scores = swd(images, images, **SMALL)
    assert list(scores) == ["swd_64px", "swd_32px", "swd_16px", "swd_mean"]
    # Same positions and directions give bitwise equal projections.
    assert all(value == 0.0 for value in scores.values())


def test_independent_samples_are_closer_than_blurred_images():
    a, b = smooth_images(128, seed=1), smooth_images(128, seed=2)
    same = swd(a, b, **SMALL)
    blurred = swd(a, blur_same_size(b, 3.0), **SMALL)
    # Two samples of one distribution differ only by sampling noise, the positive bias of an empirical W1
    # that falls as 1 / sqrt(images) (about 33 at 64 images, 22 at 128 with these settings). Across 8
    # independent seed pairs it stayed within +-5% of 23 and the blurred set within +-5% of 88, so a factor 2
    # fails only if the metric stops seeing the blur. The finest level sees it most (the blur removes detail).
    assert blurred["swd_mean"] > 2.0 * same["swd_mean"]
    assert blurred["swd_64px"] > 4.0 * same["swd_64px"]


def test_swd_grows_with_a_clipped_colour_shift():
    images = smooth_images(32, seed=3)
    direction = np.array([1.0, 0.0, -1.0], np.float32)  # warmer: more red, less blue
    scores = [swd(images, np.clip(images + s * direction, -1.0, 1.0), **SMALL)["swd_mean"] for s in (0.25, 0.5, 1.0)]
    # Comparing a set with its own shifted copy leaves no sampling noise, so the order is strict.
    assert 0.0 < scores[0] < scores[1] < scores[2], scores


def test_per_set_normalisation_hides_affine_colour_changes():
    # ProGAN normalises each set by its own per-channel mean and std; the pyramid is linear per channel,
    # so a * image + b (no clipping: |0.8 x + 0.1| < 1) leaves the normalised descriptors unchanged.
    images = smooth_images(16, seed=4)
    changed = 0.8 * images + np.array([0.1, 0.0, -0.1], np.float32)
    da = pyramid_descriptors(images, descriptors_per_image=64)
    db = pyramid_descriptors(changed, descriptors_per_image=64)
    max_diff = max(float(np.abs(x.numpy() - y.numpy()).max()) for x, y in zip(da, db))
    norm = max(float(np.linalg.norm(x.numpy(), axis=1).max()) for x in da + db)
    assert max_diff < 1e-4  # float32 rounding only
    scores = swd(images, changed, **SMALL)
    # As in the reference test: sqrt(D) * max_diff from the descriptors, plus both float32 products.
    bound = (math.sqrt(147) * max_diff + 2 * (147 + math.sqrt(147)) * U32 * norm) * 1e3
    assert all(0.0 <= value <= bound for value in scores.values()), (scores, bound)


# ----------------------------------------------------------------------------
# sliced_wasserstein on Gaussians


def test_one_dimensional_gaussians_give_the_shift():
    # In 1-D every unit direction is +-1, so each projection's W1 is the W1 between N(0, 1) and N(mu, 1): |mu|.
    # With m samples the sorted differences average mean(b) - mean(a) = mu + N(0, 2 / m) wherever they are
    # positive (all but a few extreme order statistics for mu >= 0.5), so the error has std sqrt(2 / m) = 0.01.
    m = 20000
    rng = np.random.default_rng(5)
    for mu in (0.5, -2.0):
        a = rng.standard_normal((m, 1))
        b = rng.standard_normal((m, 1)) + mu
        assert sliced_wasserstein(a, b, directions=4, repeats=1) == pytest.approx(abs(mu), abs=5 * math.sqrt(2 / m))


def test_gaussian_shift_in_d_dimensions():
    # Projected onto a unit u, N(0, I) and N(m, I) become N(0, 1) and N(u.m, 1): W1 = |u.m|. For u uniform on
    # the sphere, E|u.m| = |m| E|u_1| with E|u_1| = Gamma(D/2) / (sqrt(pi) Gamma((D+1)/2)) (about sqrt(2/(pi D))).
    d, m, shift, dirs, repeats = 8, 20000, 3.0, 256, 2
    rng = np.random.default_rng(6)
    a = rng.standard_normal((m, d))
    b = rng.standard_normal((m, d))
    b[:, 0] += shift
    e_abs_u1 = math.exp(math.lgamma(d / 2) - math.lgamma((d + 1) / 2)) / math.sqrt(math.pi)
    expected = shift * e_abs_u1
    # Noise: the directions (Var|u_1| = 1/D - E|u_1|^2, over dirs * repeats draws) and the samples (2 / m).
    std = math.sqrt(shift**2 * (1 / d - e_abs_u1**2) / (dirs * repeats) + 2 / m)
    got = sliced_wasserstein(a, b, directions=dirs, repeats=repeats, seed=1)
    assert got == pytest.approx(expected, abs=5 * std), (got, expected, std)
    # Unequal sizes: the larger set is subsampled to the smaller; same distributions, same answer.
    assert sliced_wasserstein(a, b[: m // 2], directions=dirs, repeats=repeats, seed=1) == pytest.approx(
        expected, abs=5 * math.sqrt(shift**2 * (1 / d - e_abs_u1**2) / (dirs * repeats) + 4 / m)
    )


# ----------------------------------------------------------------------------
# Errors and examples


def test_errors():
    images = np.zeros((4, 32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match="at least 2 images"):
        swd(images[:1], images)
    with pytest.raises(ValueError, match="at least 2 images"):
        swd(images, images[:1])
    with pytest.raises(ValueError, match="at least 2 images"):
        pyramid_descriptors(images[:1])
    small = np.zeros((4, 12, 12, 3), np.uint8)
    with pytest.raises(ValueError, match="12x12"):
        swd(small, small)
    with pytest.raises(ValueError, match="15x20"):
        laplacian_pyramid(np.zeros((2, 15, 20, 3), np.float32))
    with pytest.raises(ValueError, match="same image size"):
        swd(images, np.zeros((4, 64, 64, 3), np.uint8))
    with pytest.raises(ValueError, match=r"\[N, H, W, 3\]"):
        swd(np.zeros((4, 32, 32), np.uint8), images)
    with pytest.raises(ValueError, match="same D"):
        sliced_wasserstein(np.zeros((5, 3)), np.zeros((5, 4)))


def test_single_level_and_flat_images():
    # 24 px < 2 * 16: a single level. Flat images have a zero std; the guard keeps the result finite (0).
    flat = np.full((3, 24, 24, 3), 100, np.uint8)
    assert swd(flat, flat, **SMALL) == {"swd_24px": 0.0, "swd_mean": 0.0}


def test_docstring_examples():
    assert doctest.testmod(swd_module, optionflags=doctest.ELLIPSIS).failed == 0
