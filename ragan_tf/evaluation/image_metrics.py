"""Image quality and distribution metrics: masked PSNR / SSIM / L1, FID, KID.

Face aging should change the face and leave the rest of the photo alone, so
the pixel metrics take an optional mask of weights in [0, 1]: pass
`1 - face_mask` to measure background preservation outside the face. FID and
KID compare two sets of feature vectors (usually InceptionV3 pool features,
see `ragan_tf.evaluation.inception`). Everything is NumPy, float64 inside.

Images are `[H, W]`, `[H, W, C]` or `[N, H, W, C]` arrays, both of the same
shape, in the units that `data_range` describes (255 for uint8 images, 2 for
images in [-1, 1]). A batch is pooled: the metric is computed over all
selected pixels of all images at once, not averaged image by image.

Example:
    >>> import numpy as np
    >>> a = np.zeros((2, 2), np.uint8)
    >>> b = a.copy(); b[0, 0] = 10
    >>> round(masked_psnr(a, b), 2)  # MSE = 100 / 4 = 25
    34.15
    >>> masked_psnr(a, b, mask=np.array([[0, 1], [1, 1]]))  # the changed pixel is masked out
    inf
"""

import numpy as np

# SSIM constants of Wang et al. (2004), as scikit-image uses them with gaussian_weights=True.
SSIM_SIGMA = 1.5
SSIM_WIN_SIZE = 11
SSIM_K1 = 0.01
SSIM_K2 = 0.03


# ----------------------------------------------------------------------------
# Pixel metrics


def _as_nhwc(a, b):
    """Both images as float64 `[N, H, W, C]`, after checking that their shapes agree."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"The two images must have the same shape; got {a.shape} and {b.shape}.")
    if a.ndim == 2:
        a, b = a[None, :, :, None], b[None, :, :, None]
    elif a.ndim == 3:
        a, b = a[None], b[None]
    elif a.ndim != 4:
        raise ValueError(f"Images must be [H, W], [H, W, C] or [N, H, W, C]; got shape {a.shape}.")
    return a, b


def _pixel_weights(mask, shape):
    """The mask as float64 weights `[N, H, W]` for images of `shape` `[N, H, W, C]` (all ones for None)."""
    n, h, w = shape[:3]
    if mask is None:
        return np.ones((n, h, w))
    m = np.asarray(mask, np.float64)
    if m.ndim in (3, 4) and m.shape[-1] == 1 and m.shape[:-1] in ((h, w), (n, h, w)):
        m = m[..., 0]
    if m.shape == (h, w):
        m = np.broadcast_to(m, (n, h, w))
    elif m.shape != (n, h, w):
        raise ValueError(
            f"The mask must be [H, W] or [N, H, W] (optionally with a trailing 1) for images of shape "
            f"{tuple(shape)}; got shape {m.shape}."
        )
    if not np.all(np.isfinite(m)) or m.min() < 0.0 or m.max() > 1.0:
        raise ValueError("Mask values must be weights in [0, 1].")
    return m


def _weighted_mean(values, weights):
    """Mean of `values` `[N, H, W, C]` with pixel weights `[N, H, W]`, over all channels."""
    total = weights.sum()
    if total <= 0.0:
        raise ValueError("The mask selects no pixels (all weights are zero).")
    return float((values * weights[..., None]).sum() / (total * values.shape[-1]))


def masked_psnr(a, b, mask=None, data_range=255.0):
    """Peak signal-to-noise ratio (dB) over the pixels a mask selects, all channels.

    `10 log10(data_range^2 / MSE)`, where MSE is the mask-weighted mean of
    the squared differences. For background preservation pass
    `mask=1 - face_mask`.

    Args:
        a, b: images of the same shape, `[H, W]`, `[H, W, C]` or `[N, H, W, C]`.
        mask: optional weights in [0, 1], `[H, W]` (shared by a batch) or
            `[N, H, W]`, optionally with a trailing axis of 1.
        data_range: the distance between the lowest and highest possible
            value (255 for uint8, 2 for [-1, 1]).

    Returns:
        The PSNR as a float; `inf` when the selected pixels are identical.

    Raises:
        ValueError: shapes disagree, or the mask is out of range or empty.

    Example:
        >>> round(masked_psnr(np.zeros((4, 4, 3)), np.full((4, 4, 3), 0.25), data_range=1.0), 3)  # 10 log10(16)
        12.041
    """
    a, b = _as_nhwc(a, b)
    mse = _weighted_mean((a - b) ** 2, _pixel_weights(mask, a.shape))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(float(data_range) ** 2 / mse))


def psnr(a, b, data_range=255.0):
    """`masked_psnr` over the whole image: `psnr(a, b) == masked_psnr(a, b, None)`."""
    return masked_psnr(a, b, None, data_range)


def l1_error(a, b, mask=None):
    """Mean absolute difference over the pixels a mask selects, all channels, in the images' units.

    Args:
        a, b: images of the same shape, `[H, W]`, `[H, W, C]` or `[N, H, W, C]`.
        mask: optional weights in [0, 1], as for `masked_psnr`.

    Example:
        >>> l1_error(np.array([[0, 0], [0, 0]]), np.array([[4, 0], [0, 8]]))
        3.0
        >>> l1_error(np.array([[0, 0], [0, 0]]), np.array([[4, 0], [0, 8]]), mask=[[1, 1], [0, 0]])
        2.0
    """
    a, b = _as_nhwc(a, b)
    return _weighted_mean(np.abs(a - b), _pixel_weights(mask, a.shape))


def _gaussian_kernel(sigma=SSIM_SIGMA, size=SSIM_WIN_SIZE):
    radius = size // 2
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


def _gaussian_filter(x, kernel):
    """Separable Gaussian filter over axes 1 and 2 of `[N, H, W, C]`, borders mirrored (`d c b a | a b c d`)."""
    radius = len(kernel) // 2
    for axis in (1, 2):
        pad = [(0, 0)] * x.ndim
        pad[axis] = (radius, radius)
        padded = np.pad(x, pad, mode="symmetric")
        length = x.shape[axis]
        out = np.zeros_like(x)
        for k, weight in enumerate(kernel):
            out += weight * np.take(padded, np.arange(k, k + length), axis=axis)
        x = out
    return x


def ssim_map(a, b, data_range=255.0):
    """The per-pixel, per-channel SSIM map `[N, H, W, C]` (Gaussian window, sigma 1.5, 11x11).

    The standard formula of Wang et al. (2004) on each channel separately,
    with K1 = 0.01, K2 = 0.03 and population (not sample) covariances; the
    borders are mirrored, as scikit-image does. `masked_ssim` averages it.
    """
    a, b = _as_nhwc(a, b)
    if min(a.shape[1:3]) < SSIM_WIN_SIZE:
        raise ValueError(f"SSIM needs images of at least {SSIM_WIN_SIZE}x{SSIM_WIN_SIZE}; got {a.shape[1:3]}.")
    kernel = _gaussian_kernel()
    mu_a, mu_b = _gaussian_filter(a, kernel), _gaussian_filter(b, kernel)
    var_a = _gaussian_filter(a * a, kernel) - mu_a * mu_a
    var_b = _gaussian_filter(b * b, kernel) - mu_b * mu_b
    cov = _gaussian_filter(a * b, kernel) - mu_a * mu_b
    c1 = (SSIM_K1 * float(data_range)) ** 2
    c2 = (SSIM_K2 * float(data_range)) ** 2
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))


def masked_ssim(a, b, mask=None, data_range=255.0):
    """Structural similarity averaged over the pixels a mask selects.

    Computes `ssim_map`, then its mask-weighted mean over pixels and
    channels. Pixels within 5 px of the image border (half the 11x11 window)
    are left out, as scikit-image does, so with `mask=None` the value equals
    `skimage.metrics.structural_similarity(a, b, gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False, channel_axis=-1,
    data_range=data_range)`. The window reaches 5 px around each pixel:
    a change within 5 px of the mask still lowers the masked SSIM.

    Args:
        a, b: images of the same shape, `[H, W]`, `[H, W, C]` or `[N, H, W, C]`,
            at least 11x11.
        mask: optional weights in [0, 1], as for `masked_psnr`.
        data_range: the distance between the lowest and highest possible value.

    Returns:
        The mean SSIM, a float (1.0 for identical images).

    Raises:
        ValueError: shapes disagree, images are too small, or the mask is out
            of range or selects no pixel away from the border.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> image = rng.integers(0, 256, (32, 32, 3)).astype(np.uint8)
        >>> masked_ssim(image, image)
        1.0
    """
    a, b = _as_nhwc(a, b)
    weights = np.array(_pixel_weights(mask, a.shape))
    pad = SSIM_WIN_SIZE // 2
    border = np.ones(weights.shape[1:], bool)
    border[pad:-pad, pad:-pad] = False
    weights[:, border] = 0.0
    return _weighted_mean(ssim_map(a, b, data_range), weights)


# ----------------------------------------------------------------------------
# Distribution metrics on feature vectors


def _features(features, name, minimum):
    x = np.asarray(features, np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array [num_samples, feature_dim]; got shape {x.shape}.")
    if x.shape[0] < minimum:
        raise ValueError(f"{name} has {x.shape[0]} sample(s); at least {minimum} are needed.")
    return x


def feature_statistics(features):
    """Mean and unbiased covariance of feature vectors, as FID uses them.

    Args:
        features: `[N, D]` array, one feature vector per row; N >= 2.

    Returns:
        `(mu [D], sigma [D, D])`, float64.

    Raises:
        ValueError: not 2-D, or fewer than 2 samples (a covariance needs 2).

    Example:
        >>> mu, sigma = feature_statistics([[0.0, 1.0], [2.0, 3.0]])
        >>> mu.tolist(), sigma.tolist()
        ([1.0, 2.0], [[2.0, 2.0], [2.0, 2.0]])
    """
    x = _features(features, "features", 2)
    return x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False))


def _symmetric_sqrt(matrix):
    """Square root of a symmetric positive semi-definite matrix (tiny negative eigenvalues clipped)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """Fréchet distance between two Gaussians: `|mu1 - mu2|^2 + tr(S1 + S2 - 2 sqrtm(S1 S2))`.

    `tr sqrtm(S1 S2)` equals the sum of the square roots of the eigenvalues
    of the symmetric positive semi-definite `sqrt(S1) S2 sqrt(S1)`, which
    `numpy.linalg.eigh` computes stably (no complex parts, no scipy);
    rounding-level negative eigenvalues are clipped to 0.

    Args:
        mu1, mu2: means, `[D]`.
        sigma1, sigma2: covariances, `[D, D]`, symmetric positive semi-definite.

    Returns:
        The distance, a float, at least 0 (rounding-level negative totals
        become 0.0).

    Raises:
        ValueError: the shapes do not agree.

    Example:
        >>> frechet_distance(np.zeros(2), np.eye(2), np.ones(2), 4 * np.eye(2))  # 2 + 2 * (1 + 4 - 2 * 2)
        4.0
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(
            f"Means must be [D] and covariances [D, D] with the same D; got {mu1.shape}, {sigma1.shape}, "
            f"{mu2.shape}, {sigma2.shape}."
        )
    root1 = _symmetric_sqrt(sigma1)
    inner = root1 @ sigma2 @ root1
    eigenvalues = np.linalg.eigvalsh((inner + inner.T) / 2.0)
    trace_sqrt = np.sqrt(np.clip(eigenvalues, 0.0, None)).sum()
    diff = mu1 - mu2
    distance = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt
    return max(float(distance), 0.0)  # a squared distance: a negative value can only be rounding


def fid(features_a, features_b):
    """Fréchet Inception Distance between two sets of feature vectors.

    `frechet_distance` of the two sets' `feature_statistics`. FID is biased
    upwards for small sets; compare numbers only at equal set sizes (the
    usual protocol uses 10,000 or more images per set) and with the same
    feature extractor.

    Args:
        features_a, features_b: `[N, D]` and `[M, D]` arrays; N, M >= 2.

    Raises:
        ValueError: feature dimensions differ, or a set has fewer than 2 samples.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> a = rng.normal(size=(500, 4))
        >>> round(fid(a, a), 6)
        0.0
    """
    a = _features(features_a, "features_a", 2)
    b = _features(features_b, "features_b", 2)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"Feature dimensions differ: {a.shape[1]} and {b.shape[1]}.")
    return frechet_distance(*feature_statistics(a), *feature_statistics(b))


def polynomial_kernel(x, y):
    """KID's kernel `k(x, y) = (x . y / D + 1)^3` for rows of `x [N, D]` and `y [M, D]`: `[N, M]`."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def _unbiased_mmd2(x, y):
    """Unbiased MMD^2 with the polynomial kernel: within-set diagonals excluded."""
    m, n = x.shape[0], y.shape[0]
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    return (
        (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
        + (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
        - 2.0 * k_xy.sum() / (m * n)
    )


def kid(features_a, features_b, subsets=10, subset_size=1000, seed=0):
    """Kernel Inception Distance (Binkowski et al., 2018): mean and spread over random subsets.

    The unbiased estimate of the squared maximum mean discrepancy with the
    cubic polynomial kernel `(x . y / D + 1)^3`, on `subsets` pairs of random
    subsets (drawn without replacement) of `min(subset_size, N, M)` vectors
    each. Unlike FID it is unbiased, so it can be slightly negative when both
    sets come from the same distribution, and it is comparable across set
    sizes. Papers usually report it multiplied by 1000.

    Args:
        features_a, features_b: `[N, D]` and `[M, D]` arrays; N, M >= 2.
        subsets: how many subset pairs to average.
        subset_size: the largest subset size.
        seed: seed of the subset draws.

    Returns:
        `(mean, std)` over the subsets, floats (std with ddof 0, as in the
        paper's code).

    Raises:
        ValueError: feature dimensions differ, a set has fewer than 2
            samples, or `subsets` < 1.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> mean, std = kid(rng.normal(size=(200, 8)), rng.normal(1.0, 1.0, (200, 8)), subsets=5, subset_size=100)
        >>> mean > 0.1
        True
    """
    a = _features(features_a, "features_a", 2)
    b = _features(features_b, "features_b", 2)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"Feature dimensions differ: {a.shape[1]} and {b.shape[1]}.")
    if subsets < 1:
        raise ValueError(f"subsets must be at least 1; got {subsets}.")
    size = min(int(subset_size), a.shape[0], b.shape[0])
    if size < 2:
        raise ValueError(f"subset_size must be at least 2 for the unbiased estimate; got {subset_size}.")
    rng = np.random.default_rng(seed)
    values = np.array([
        _unbiased_mmd2(a[rng.choice(a.shape[0], size, replace=False)], b[rng.choice(b.shape[0], size, replace=False)])
        for _ in range(subsets)
    ])
    return float(values.mean()), float(values.std())
