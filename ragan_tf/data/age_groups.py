"""Age-group schemes: how a continuous age in years maps to a class index.

Every dataset reader produces an age in years where it is known; the input
pipeline turns it into `age_group` with the scheme the experiment config
names. Three schemes come from the systems this package reproduces:

- `ffhq_aging`: the 10 FFHQ-Aging groups that RAGAN trains on.
- `age_cgan`: the 6 groups of Antipov et al. (Age-cGAN).
- `two_groups`: the 20-30 / 40-50 split of the encoder + conditional DCGAN
  seed; ages outside both ranges map to -1 (excluded).
- `unconditional`: one group holding every face, also those whose age is
  unknown (CelebA), for the unconditional GAN baselines.

Datasets label ages exactly (UTKFace, CACD, ...) or by range (FFHQ-Aging's
groups); a labelled range maps to a group only when it lies wholly inside
one (`group_of_range`), so FFHQ-Aging's 50-69 is excluded under `age_cgan`
(50-59 / 60+) rather than guessed.
"""

import dataclasses

import numpy as np

from ragan_tf.errors import RaganError


class AgeGroupError(RaganError, ValueError):
    """An age-group scheme that does not exist."""


@dataclasses.dataclass(frozen=True)
class AgeGroupScheme:
    """A list of inclusive integer age ranges, one per group.

    Args:
        name: the scheme's name in configs.
        ranges: `(low, high)` inclusive year ranges, in increasing order.
            Ages are floored to whole years before they are looked up.
        unknown_age_group: the group of faces whose age is unknown; -1
            excludes them.
    """

    name: str
    ranges: tuple
    unknown_age_group: int = -1

    @property
    def num_groups(self):
        return len(self.ranges)

    @property
    def labels(self):
        return [f"{low}-{high}" for low, high in self.ranges]

    @property
    def centres(self):
        """Representative age of each group (the middle of its range), float32."""
        return np.array([(low + high) / 2.0 for low, high in self.ranges], np.float32)

    @property
    def anchor_ages(self):
        """The age (years) at which each group's conditioning applies unmixed, float32.

        The middle of each range, except an open-ended top group (upper bound
        of 100 or more), which is anchored 10 years above its lower bound:
        the middle of 70-120 (95) is older than almost every training face.
        Between two anchors, `age_group_weights` mixes the two groups.
        """
        return np.array(
            [low + 10.0 if high >= 100 else (low + high) / 2.0 for low, high in self.ranges], np.float32
        )

    def group_of(self, age):
        """Group index of an age in years (scalar or array); -1 when outside every range."""
        years = np.floor(np.asarray(age, np.float64)).astype(np.int64)
        groups = np.full(years.shape, -1, np.int32)
        for index, (low, high) in enumerate(self.ranges):
            groups[(years >= low) & (years <= high)] = index
        return groups if groups.shape else int(groups)

    def group_of_range(self, age_low, age_high):
        """Group of labelled inclusive year ranges (arrays); -1 when a range straddles
        groups or lies outside them; `unknown_age_group` where `age_low` < 0."""
        age_low, age_high = np.asarray(age_low), np.asarray(age_high)
        low = np.atleast_1d(self.group_of(np.maximum(age_low, 0)))
        high = np.atleast_1d(self.group_of(np.maximum(age_high, 0)))
        groups = np.where(low == high, low, -1)
        groups = np.where(np.atleast_1d(age_low) < 0, self.unknown_age_group, groups).astype(np.int32)
        return groups if age_low.shape else int(groups[0])

    def group_counts(self, age_low, age_high):
        """Examples per group (int [G]) for labelled ranges, by `group_of_range`."""
        groups = np.atleast_1d(self.group_of_range(np.asarray(age_low), np.asarray(age_high)))
        return np.bincount(groups[groups >= 0], minlength=self.num_groups)

    def lookup_table(self, max_age=120):
        """`table[year] = group` for years 0..max_age, for in-graph lookups."""
        return self.group_of(np.arange(max_age + 1))


def age_group_weights(ages, anchor_ages):
    """Continuous age -> conditioning weights over age groups (`keras.ops`; graph-safe).

    Piecewise-linear interpolation between neighbouring groups' anchor ages:
    an age at an anchor gives that group's one-hot vector, an age halfway
    between two anchors gives 0.5 / 0.5, ages outside the anchors are clamped
    to the first or last group. The age modulator's conditional batch norm
    mixes its per-group scale and offset with these weights, so an age slider
    changes the output smoothly instead of in group-sized jumps.

    Args:
        ages: [B] ages in years (any real dtype).
        anchor_ages: [G] increasing anchor ages (`AgeGroupScheme.anchor_ages`).

    Returns:
        [B, G] float32 weights, each row summing to one.

    Example:
    ```python
    scheme = get_scheme("ffhq_aging")
    weights = age_group_weights(np.array([24.5, 29.5]), scheme.anchor_ages)
    # row 0: one-hot on group 5 (20-29); row 1: 0.5 on groups 5 and 6
    ```
    """
    from keras import ops

    anchors = ops.convert_to_tensor(np.asarray(anchor_ages, np.float32))
    num_groups = int(anchors.shape[0])
    ages = ops.clip(ops.cast(ages, "float32"), anchors[0], anchors[-1])
    lower = ops.sum(ops.cast(ops.expand_dims(ages, -1) >= anchors[1:-1], "int32"), axis=-1)
    low_age, high_age = ops.take(anchors, lower), ops.take(anchors, lower + 1)
    upper_share = ops.expand_dims(ops.clip((ages - low_age) / (high_age - low_age), 0.0, 1.0), -1)
    return ops.one_hot(lower, num_groups) * (1.0 - upper_share) + ops.one_hot(lower + 1, num_groups) * upper_share


SCHEMES = {
    "ffhq_aging": AgeGroupScheme(
        "ffhq_aging",
        ((0, 2), (3, 6), (7, 9), (10, 14), (15, 19), (20, 29), (30, 39), (40, 49), (50, 69), (70, 120)),
    ),
    "age_cgan": AgeGroupScheme(
        "age_cgan", ((0, 18), (19, 29), (30, 39), (40, 49), (50, 59), (60, 120))
    ),
    "two_groups": AgeGroupScheme("two_groups", ((20, 30), (40, 50))),
    "unconditional": AgeGroupScheme("unconditional", ((0, 120),), unknown_age_group=0),
}


def get_scheme(name):
    """The `AgeGroupScheme` called `name`; a clear error for an unknown one."""
    try:
        return SCHEMES[name]
    except KeyError:
        raise AgeGroupError(
            f"Unknown age-group scheme {name!r}; choose one of {sorted(SCHEMES)}."
        ) from None


def spread_indices(ages, count):
    """`count` indices spread evenly over the ages (youngest to oldest; all when there are no more),
    e.g. for `prepare --limit` and the faces `evaluate` takes."""
    order = np.argsort(np.asarray(ages), kind="stable")
    if len(order) <= count:
        return order
    return order[np.unique(np.linspace(0, len(order) - 1, count).round().astype(int))]
