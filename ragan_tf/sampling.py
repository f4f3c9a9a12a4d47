"""Aging a batch of faces to every age group, as pictures."""

import numpy as np
from keras import ops

from ragan_tf.visualization import image_grid, to_uint8


def age_to_every_group(generator, images, face_masks, num_age_groups):
    """`generator(x, mask, g)` for every group g: one `generator.age_sweep` call when it has one
    (an `AgeTransformer`: RAGAN encodes each face once), else one call per group.

    Returns:
        float32 numpy [B, num_age_groups, H, W, 3] in [-1, 1].
    """
    if hasattr(generator, "age_sweep"):
        groups = ops.arange(num_age_groups, dtype="int32")
        return np.asarray(ops.convert_to_numpy(generator.age_sweep(images, face_masks, groups, training=False)))
    batch = ops.shape(images)[0]
    outputs = [
        generator(images, face_masks, ops.full((batch,), group, dtype="int32"), training=False)
        for group in range(num_age_groups)
    ]
    return np.stack([ops.convert_to_numpy(output) for output in outputs], axis=1)


def aging_grid(generator, images, face_masks, age_group_labels, source_groups=None, title=None):
    """A picture: one row per input face, the input first, then each target group.

    Args:
        generator: a generator called as `generator(image, face_mask, group)`.
        images: float [B, H, W, 3] in [-1, 1].
        face_masks: float [B, H, W, 1].
        age_group_labels: one label per group (column headers).
        source_groups: optional int [B]; row labels then say each input's group.
        title: optional title line.

    Returns:
        uint8 [height, width, 3].
    """
    aged = age_to_every_group(generator, images, face_masks, len(age_group_labels))
    cells = np.concatenate([np.asarray(images)[:, None], aged], axis=1)
    row_labels = None
    if source_groups is not None:
        row_labels = [f"from {age_group_labels[int(group)]}" for group in np.asarray(source_groups)]
    return image_grid(to_uint8(cells), row_labels, ["input"] + list(age_group_labels), title=title)


def sample_grid(sampler, noise, age_group_labels, title=None):
    """A picture of a sampler's outputs for fixed noise.

    Conditional sampler: one row per noise vector, one column per age group
    (the same z at every age). Unconditional: the samples in a square grid.

    Args:
        sampler: a `Sampler` (`ragan_tf.models.tasks`).
        noise: float [N, noise_dim].
        age_group_labels: column headers of a conditional sampler.
        title: optional title line.

    Returns:
        uint8 [height, width, 3].
    """
    noise = np.asarray(noise, np.float32)
    if sampler.conditional:
        columns = [ops.convert_to_numpy(sampler(noise, ops.full((len(noise),), group, dtype="int32"), training=False))
                   for group in range(sampler.num_age_groups)]
        cells = np.stack(columns, axis=1)
        return image_grid(to_uint8(cells), [f"z{index}" for index in range(len(noise))], list(age_group_labels),
                          title=title)
    samples = ops.convert_to_numpy(sampler(noise, None, training=False))
    side = int(np.ceil(np.sqrt(len(samples))))
    padded = np.concatenate([samples, -np.ones((side * side - len(samples), *samples.shape[1:]), samples.dtype)])
    return image_grid(to_uint8(padded.reshape(side, side, *samples.shape[1:])), title=title)
