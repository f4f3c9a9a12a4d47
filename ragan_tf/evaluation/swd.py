"""Sliced Wasserstein distance on Laplacian-pyramid patches (ProGAN's SWD).

Karras et al., "Progressive Growing of GANs for Improved Quality, Stability,
and Variation" (ICLR 2018, Section 5 and Appendix D) compare two image sets
through the statistics of small patches at several scales. It needs no
pretrained network (unlike FID / KID), so it runs anywhere:

1. Each image (uint8 in [0, 255] or float in [-1, 1], RGB) becomes a Laplacian
   pyramid built with the 5x5 binomial kernel `[1, 4, 6, 4, 1] / 16`
   (separable), mirror ("reflect", `d c b | a b c d | c b a`) padding,
   downsampling by 2 and upsampling by zero insertion and the kernel times 4,
   as `cv2.pyrDown` / `cv2.pyrUp` and ProGAN do. Levels go from full
   resolution down, halving while the smaller side is at least
   `2 * min_size` (`min_size` = 16): 64, 32 and 16 for 64 px images. The coarsest level is the Gaussian (low-pass)
   level itself, the others are band-pass differences.
2. From every level, `descriptors_per_image` (128) random 7x7x3 neighbourhoods
   per image, flattened to 147-d descriptors (in `(row, column, channel)`
   order). Positions come from a seeded `np.random.Generator`, so results are
   reproducible.
3. Descriptors are normalised per level and per set, as ProGAN's
   `finalize_descriptors` does: each set's descriptors minus that set's own
   per-channel mean, divided by that set's own per-channel std (over all its
   descriptors and all 49 positions). A consequence worth knowing: SWD does not
   see a per-channel affine colour change (`a * image + b` with `a > 0`, say a
   uniform colour cast or contrast change without clipping), because the
   pyramid is linear per channel and the normalisation removes it again. Use a
   pixel or colour-histogram metric for that.
4. Per level, the sliced Wasserstein distance between the two descriptor sets:
   random unit directions, both sets projected onto each, the projections
   sorted, the mean absolute difference of the sorted values (the 1-D
   Wasserstein-1 distance between the empirical projections), averaged over
   directions and repeats. `swd` reports each level times 1e3 (ProGAN's
   `SWDx1e3`) and their mean.

Defaults: `directions=512`, `repeats=4` (2048 projections in all). ProGAN's
published code drew 4 repeats of 128 directions (512 projections in all); pass
`directions=128` to match it. The paper used 16384 images per set; with fewer
images the estimate is noisier and, like every sample-based distance, biased
upwards (two samples of one distribution give a positive SWD), so compare
values computed with the same set sizes.

The pyramid, patch gathering, normalisation and projections are TensorFlow ops
over the whole batch (chunks of images and of directions, to bound memory).
NumPy draws the random positions and directions and sorts the projections:
on CPU `np.sort` (SIMD) is about 15x faster than `tf.sort`, whose TopK kernel
made the sort ~90% of the run time.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a = rng.uniform(-1, 1, (8, 32, 32, 3)).astype("float32")
    >>> b = rng.uniform(-1, 1, (8, 32, 32, 3)).astype("float32")
    >>> sorted(swd(a, b, directions=64, repeats=1))
    ['swd_16px', 'swd_32px', 'swd_mean']
    >>> swd(a, a, directions=64, repeats=1)["swd_mean"]
    0.0
"""

import numpy as np
import tensorflow as tf

# The 5-tap binomial kernel of Burt & Adelson's pyramid (cv2.pyrDown, ProGAN).
_BINOMIAL = (1.0 / 16, 4.0 / 16, 6.0 / 16, 4.0 / 16, 1.0 / 16)
_PAD = len(_BINOMIAL) // 2

# Images per pyramid chunk: bounds memory (256 images of 256 px are ~200 MB of
# float32 per level) without giving up batching; results do not depend on it.
_CHUNK_IMAGES = 256

# Projections held at once per set in `sliced_wasserstein` (float32: 128 MB).
_PROJECTION_ELEMENTS = 32 * 1024 * 1024


# ----------------------------------------------------------------------------
# Laplacian pyramid


def _as_float_images(images, name="images"):
    """`images` as a float32 `[N, H, W, 3]` tensor in [-1, 1] (uint8 is mapped from [0, 255])."""
    images = tf.convert_to_tensor(images)
    if images.shape.rank != 4 or images.shape[-1] != 3:
        raise ValueError(f"`{name}` must be RGB images [N, H, W, 3]; got shape {tuple(images.shape)}.")
    if images.dtype == tf.uint8:
        # Same scale as float input, so either gives the same pyramid.
        return tf.cast(images, tf.float32) / 127.5 - 1.0
    if not images.dtype.is_floating:
        raise ValueError(f"`{name}` must be uint8 or float; got dtype {images.dtype.name}.")
    return tf.cast(images, tf.float32)


def _check_min_size(min_size):
    if int(min_size) != min_size or min_size < 3:
        # The 5-tap kernel with mirror padding needs at least 3 pixels per side.
        raise ValueError(f"`min_size` must be an integer >= 3; got {min_size}.")
    return int(min_size)


def _level_sizes(height, width, min_size):
    """Sizes `(h, w)` of the pyramid levels, finest first: halved while the smaller side is >= 2 * min_size."""
    if min(height, width) < min_size:
        raise ValueError(
            f"Images must be at least {min_size}x{min_size} pixels for the SWD pyramid; got {height}x{width}."
        )
    sizes = [(height, width)]
    # ProGAN's rule (res //= 2 while res >= 16) for any size; [::2] keeps ceil(n / 2) samples.
    while min(sizes[-1]) >= 2 * min_size:
        h, w = sizes[-1]
        sizes.append(((h + 1) // 2, (w + 1) // 2))
    return sizes


def _blur(x, gain=1.0):
    """Separable binomial blur of `[N, H, W, C]` with mirror padding; `gain` multiplies the 2-D kernel."""
    x = tf.pad(x, [[0, 0], [_PAD, _PAD], [_PAD, _PAD], [0, 0]], mode="REFLECT")
    h, w = x.shape[1] - 2 * _PAD, x.shape[2] - 2 * _PAD
    # sqrt(gain) per axis; for gain 4 the taps become [1, 4, 6, 4, 1] / 8, exact in float32.
    taps = [t * float(np.sqrt(gain)) for t in _BINOMIAL]
    x = tf.add_n([t * x[:, i : i + h, :, :] for i, t in enumerate(taps)])
    return tf.add_n([t * x[:, :, i : i + w, :] for i, t in enumerate(taps)])


def _downsample(x):
    return _blur(x)[:, ::2, ::2, :]


def _upsample(x, size):
    """Zero insertion to `size` `(h, w)` and blur with the kernel times 4 (cv2.pyrUp)."""
    _, h, w, c = x.shape
    # Interleave zeros: stacking on a new axis and merging it doubles that axis.
    x = tf.reshape(tf.stack([x, tf.zeros_like(x)], axis=3), [-1, h, 2 * w, c])
    x = tf.reshape(tf.stack([x, tf.zeros_like(x)], axis=2), [-1, 2 * h, 2 * w, c])
    # Odd sizes: the zero-inserted image is one row / column too long.
    return _blur(x[:, : size[0], : size[1], :], gain=4.0)


def _pyramid(x, sizes):
    """Laplacian pyramid of the float32 batch `x` with the given level sizes (finest first)."""
    gaussians = [x]
    for _ in sizes[1:]:
        gaussians.append(_downsample(gaussians[-1]))
    laplacians = [g - _upsample(coarser, size) for g, coarser, size in zip(gaussians[:-1], gaussians[1:], sizes)]
    return laplacians + [gaussians[-1]]


def laplacian_pyramid(images, min_size=16):
    """Laplacian pyramid of a batch of images, as ProGAN's SWD builds it.

    Levels go from full resolution down, halving (rounding up) while the
    smaller side is at least `2 * min_size`, so every level has both sides at
    least `min_size`. Every level but the coarsest is the
    band-pass difference between a Gaussian level and the upsampled next one;
    the coarsest is the Gaussian (low-pass) level itself, so upsampling and
    adding from the coarsest level back gives the images again.

    Args:
        images: `[N, H, W, 3]` RGB images, uint8 in [0, 255] (mapped to
            [-1, 1]) or float in [-1, 1]. Both sides must be >= `min_size`.
        min_size: int, the smallest side a level may have (default 16, as in
            ProGAN). Images smaller than `2 * min_size` give a single level.

    Returns:
        A list of float32 tensors `[N, h, w, 3]`, finest first.

    Example:
        >>> import numpy as np
        >>> levels = laplacian_pyramid(np.zeros((2, 64, 64, 3), np.uint8))
        >>> [tuple(level.shape) for level in levels]
        [(2, 64, 64, 3), (2, 32, 32, 3), (2, 16, 16, 3)]
    """
    min_size = _check_min_size(min_size)
    x = _as_float_images(images)
    return _pyramid(x, _level_sizes(x.shape[1], x.shape[2], min_size))


# ----------------------------------------------------------------------------
# Descriptors


def _normalise(descriptors, channels=3):
    """Descriptors `[M, P * channels]` minus their own per-channel mean, over their own per-channel std."""
    d = tf.reshape(descriptors, [tf.shape(descriptors)[0], -1, channels])
    # float64 statistics: millions of values are summed.
    d64 = tf.cast(d, tf.float64)
    mean = tf.reduce_mean(d64, axis=[0, 1])
    std = tf.sqrt(tf.reduce_mean(tf.square(d64 - mean), axis=[0, 1]))
    # A constant channel (e.g. a flat image's band-pass level) has std 0; its centred values are 0 already.
    std = tf.where(std > 0, std, tf.ones_like(std))
    d = (d - tf.cast(mean, tf.float32)) / tf.cast(std, tf.float32)
    return tf.reshape(d, tf.shape(descriptors))


def pyramid_descriptors(images, descriptors_per_image=128, patch_size=7, min_size=16, seed=0):
    """Normalised random patch descriptors from every Laplacian-pyramid level.

    For each level (finest first) the patch centres are drawn from
    `np.random.default_rng(seed)`: first the rows `integers(r, h - r, (N, K))`,
    then the columns `integers(r, w - r, (N, K))`, with `r = patch_size // 2`
    and `K = descriptors_per_image`, so every patch lies inside the level.
    Descriptor `n * K + k` is patch `k` of image `n`, flattened in
    `(row, column, channel)` order. Each level's descriptors are then
    normalised with this set's own per-channel mean and std, as ProGAN's
    `finalize_descriptors` does.

    Args:
        images: `[N, H, W, 3]` RGB images, uint8 or float in [-1, 1], N >= 2.
        descriptors_per_image: int, patches per image and level (default 128).
        patch_size: int, odd side of the square patches (default 7).
        min_size: int, smallest level side (default 16); see
            `laplacian_pyramid`.
        seed: int, seed of the patch positions.

    Returns:
        A list (per level, finest first) of float32 tensors
        `[N * descriptors_per_image, patch_size**2 * 3]`.

    Example:
        >>> import numpy as np
        >>> images = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
        >>> [tuple(d.shape) for d in pyramid_descriptors(images, descriptors_per_image=16)]
        [(64, 147), (64, 147)]
    """
    min_size = _check_min_size(min_size)
    if int(patch_size) != patch_size or patch_size < 1 or patch_size % 2 == 0:
        raise ValueError(f"`patch_size` must be a positive odd integer; got {patch_size}.")
    if int(descriptors_per_image) != descriptors_per_image or descriptors_per_image < 1:
        raise ValueError(f"`descriptors_per_image` must be a positive integer; got {descriptors_per_image}.")
    patch_size, k = int(patch_size), int(descriptors_per_image)
    x = _as_float_images(images)
    n, height, width, channels = x.shape
    if n < 2:
        raise ValueError(f"SWD needs at least 2 images per set; got {n}.")
    sizes = _level_sizes(height, width, min_size)
    if patch_size > min(sizes[-1]):
        raise ValueError(
            f"`patch_size` {patch_size} does not fit the coarsest pyramid level {sizes[-1][0]}x{sizes[-1][1]}."
        )

    # All positions first, level by level, so the chunking below cannot change them.
    r = patch_size // 2
    rng = np.random.default_rng(seed)
    centres = []
    for h, w in sizes:
        rows = rng.integers(r, h - r, size=(n, k))
        cols = rng.integers(r, w - r, size=(n, k))
        centres.append((rows, cols))

    offsets = np.arange(-r, r + 1)
    per_level = [[] for _ in sizes]
    for start in range(0, n, _CHUNK_IMAGES):
        stop = min(start + _CHUNK_IMAGES, n)
        levels = _pyramid(x[start:stop], sizes)
        for i, (level, (h, w), (rows, cols)) in enumerate(zip(levels, sizes, centres)):
            # Flat pixel index of every patch pixel: [images, K, patch rows, patch cols].
            image = np.arange(stop - start)[:, None, None, None]
            y = rows[start:stop, :, None, None] + offsets[None, None, :, None]
            xx = cols[start:stop, :, None, None] + offsets[None, None, None, :]
            index = (image * h + y) * w + xx
            pixels = tf.gather(tf.reshape(level, [-1, channels]), index.reshape(-1))
            per_level[i].append(tf.reshape(pixels, [-1, patch_size * patch_size * channels]))
    return [_normalise(tf.concat(chunks, axis=0), channels) for chunks in per_level]


# ----------------------------------------------------------------------------
# Sliced Wasserstein distance


def sliced_wasserstein(a, b, directions=512, repeats=4, seed=0):
    """Sliced Wasserstein-1 distance between two descriptor sets.

    Draws from `np.random.default_rng(seed)`: first, when the sets differ in
    size, `choice(M_larger, M_smaller, replace=False)` rows of the larger set
    (kept in their order); then, for each repeat, a `[D, directions]` standard
    normal matrix whose columns are scaled to unit length. Both sets are
    projected onto each direction, the projections sorted, and the mean
    absolute difference of the sorted values (the 1-D Wasserstein-1 distance
    of the projections) averaged over directions and repeats.

    Args:
        a: `[M_a, D]` descriptors (array or tensor).
        b: `[M_b, D]` descriptors.
        directions: int, random directions per repeat (default 512).
        repeats: int, rounds of fresh directions (default 4).
        seed: int, seed of the subsampling and the directions.

    Returns:
        The distance as a Python float, without ProGAN's 1e3 factor.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).standard_normal((1000, 1))
        >>> round(sliced_wasserstein(x, x + 0.5, directions=4, repeats=1), 4)  # 1-D: |shift|
        0.5
    """
    if int(directions) != directions or directions < 1 or int(repeats) != repeats or repeats < 1:
        raise ValueError(f"`directions` and `repeats` must be positive integers; got {directions}, {repeats}.")
    a = tf.cast(tf.convert_to_tensor(a), tf.float32)
    b = tf.cast(tf.convert_to_tensor(b), tf.float32)
    if a.shape.rank != 2 or b.shape.rank != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"Descriptor sets must be [M, D] with the same D; got {tuple(a.shape)} and {tuple(b.shape)}.")
    if a.shape[0] < 1 or b.shape[0] < 1:
        raise ValueError("Descriptor sets must not be empty.")

    rng = np.random.default_rng(seed)
    # Sorted projections pair quantiles only between equally large sets.
    if a.shape[0] > b.shape[0]:
        a = tf.gather(a, np.sort(rng.choice(a.shape[0], b.shape[0], replace=False)))
    elif b.shape[0] > a.shape[0]:
        b = tf.gather(b, np.sort(rng.choice(b.shape[0], a.shape[0], replace=False)))

    # Directions in blocks so a block's projections stay near 128 MB however many descriptors there are.
    block = max(1, _PROJECTION_ELEMENTS // a.shape[0])
    per_repeat = []
    for _ in range(int(repeats)):
        dirs = rng.standard_normal((a.shape[1], int(directions)))
        dirs = tf.constant(dirs / np.linalg.norm(dirs, axis=0, keepdims=True), tf.float32)
        row_means = []
        for start in range(0, int(directions), block):
            d = dirs[:, start : start + block]
            # [directions, M]: one row per direction, each sorted along the contiguous last axis.
            # NumPy sorts (in place: .numpy() already copied): its SIMD sort is ~15x faster than
            # tf.sort (TopK) on CPU here.
            proj_a = tf.matmul(d, a, transpose_a=True, transpose_b=True).numpy()
            proj_b = tf.matmul(d, b, transpose_a=True, transpose_b=True).numpy()
            proj_a.sort(axis=-1)
            proj_b.sort(axis=-1)
            np.subtract(proj_a, proj_b, out=proj_a)
            row_means.append(np.abs(proj_a, out=proj_a).mean(axis=-1))
        per_repeat.append(np.mean(np.concatenate(row_means), dtype=np.float64))
    return float(np.mean(per_repeat))


def swd(images_a, images_b, descriptors_per_image=128, directions=512, repeats=4, min_size=16, seed=0):
    """ProGAN's multi-scale sliced Wasserstein distance between two image sets.

    Both sets take their patch positions from the same `seed` (positions do not
    depend on the pixels, so sharing them is fair and makes a set's distance to
    itself exactly 0). Pyramid level `i` (finest first) is compared by
    `sliced_wasserstein(..., seed=seed + i)`.

    Args:
        images_a: `[N_a, H, W, 3]` RGB images, uint8 or float in [-1, 1],
            N_a >= 2 (e.g. real photos).
        images_b: `[N_b, H, W, 3]` images of the same size (e.g. generated).
        descriptors_per_image: int, patches per image and level (default 128).
        directions: int, random directions per repeat (default 512; ProGAN's
            code used 128).
        repeats: int, rounds of fresh directions (default 4).
        min_size: int, smallest pyramid level side (default 16).
        seed: int, seed of the positions, subsampling and directions.

    Returns:
        A dict `{"swd_<size>px": distance * 1e3 per level, finest first,
        "swd_mean": their mean}` of Python floats (`"swd_<h>x<w>px"` for
        non-square images). Lower is more alike; 0 for identical sets.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> real = rng.integers(0, 256, (16, 64, 64, 3), dtype=np.uint8)
        >>> scores = swd(real, real[::-1], directions=64, repeats=1)
        >>> list(scores)
        ['swd_64px', 'swd_32px', 'swd_16px', 'swd_mean']
    """
    images_a, images_b = tf.convert_to_tensor(images_a), tf.convert_to_tensor(images_b)
    for name, shape in (("images_a", images_a.shape), ("images_b", images_b.shape)):
        if shape.rank != 4 or shape[-1] != 3:
            raise ValueError(f"`{name}` must be RGB images [N, H, W, 3]; got shape {tuple(shape)}.")
        if shape[0] < 2:
            raise ValueError(f"SWD needs at least 2 images per set; `{name}` has {shape[0]}.")
    shape_a, shape_b = images_a.shape, images_b.shape
    if shape_a[1:3] != shape_b[1:3]:
        raise ValueError(f"Both sets must have the same image size; got {shape_a[1:3]} and {shape_b[1:3]}.")

    kwargs = dict(descriptors_per_image=descriptors_per_image, min_size=min_size, seed=seed)
    desc_a = pyramid_descriptors(images_a, **kwargs)
    desc_b = pyramid_descriptors(images_b, **kwargs)
    sizes = _level_sizes(shape_a[1], shape_a[2], _check_min_size(min_size))
    scores = {}
    for i, ((h, w), da, db) in enumerate(zip(sizes, desc_a, desc_b)):
        key = f"swd_{h}px" if h == w else f"swd_{h}x{w}px"
        scores[key] = sliced_wasserstein(da, db, directions=directions, repeats=repeats, seed=seed + i) * 1e3
    scores["swd_mean"] = float(np.mean(list(scores.values())))
    return scores
