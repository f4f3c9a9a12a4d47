"""Normalization layers shared by every network: instance, batch or none.

Keras 3 has no `InstanceNormalization` (tensorflow-addons is dead); a
`GroupNormalization` with one group per channel computes exactly the same
per-sample, per-channel statistics. Epsilon defaults to 1e-5, PyTorch's
value, since the peer code this reproduction follows is PyTorch.
"""

import keras

NORMALIZATIONS = ("instance", "batch", "none")


def instance_normalization(center=True, scale=True, epsilon=1e-5, **kwargs):
    """Instance normalization: mean and variance over H, W per sample and channel.

    Args:
        center: learn a per-channel offset (beta).
        scale: learn a per-channel scale (gamma).
        epsilon: added to the variance.
        **kwargs: other `keras.layers.Layer` arguments (`name`, `dtype`).

    Returns:
        A `keras.layers.GroupNormalization(groups=-1)`.

    Example:
    ```python
    normalize = instance_normalization(center=False, scale=False)
    features = normalize(keras.random.normal((2, 16, 16, 32)))
    ```
    """
    return keras.layers.GroupNormalization(
        groups=-1, center=center, scale=scale, epsilon=epsilon, **kwargs
    )


def make_normalization(kind, epsilon=1e-5, momentum=0.99, **kwargs):
    """The normalization layer named by `kind`, with a learned affine transform.

    Args:
        kind: `"instance"`, `"batch"` or `"none"` (an identity layer).
        epsilon: added to the variance.
        momentum: moving-average momentum of `"batch"` (Keras convention:
            1 - PyTorch's momentum).
        **kwargs: other `keras.layers.Layer` arguments (`name`, `dtype`).

    Example:
    ```python
    normalize = make_normalization("instance", name="norm")
    ```
    """
    if kind == "instance":
        return instance_normalization(epsilon=epsilon, **kwargs)
    if kind == "batch":
        return keras.layers.BatchNormalization(momentum=momentum, epsilon=epsilon, **kwargs)
    if kind == "none":
        return keras.layers.Identity(**kwargs)
    raise ValueError(f"Normalization must be one of {NORMALIZATIONS}, got {kind!r}.")
