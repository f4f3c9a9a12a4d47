"""Age-group schemes: how a continuous age in years maps to a class index.

Every dataset reader produces an age in years where it is known; the input
pipeline turns it into `age_group` with the scheme the experiment config
names. Three schemes come from the systems this package reproduces:

- `ffhq_aging`: the 10 FFHQ-Aging groups that RAGAN trains on.
- `age_cgan`: the 6 groups of Antipov et al. (Age-cGAN).
- `two_groups`: the 20-30 / 40-50 split of the encoder + conditional DCGAN
  seed; ages outside both ranges map to -1 (excluded).
"""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class AgeGroupScheme:
    """A list of inclusive integer age ranges, one per group.

    Args:
        name: the scheme's name in configs.
        ranges: `(low, high)` inclusive year ranges, in increasing order.
            Ages are floored to whole years before they are looked up.
    """

    name: str
    ranges: tuple

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

    def group_of(self, age):
        """Group index of an age in years (scalar or array); -1 when outside every range."""
        years = np.floor(np.asarray(age, np.float64)).astype(np.int64)
        groups = np.full(years.shape, -1, np.int32)
        for index, (low, high) in enumerate(self.ranges):
            groups[(years >= low) & (years <= high)] = index
        return groups if groups.shape else int(groups)

    def lookup_table(self, max_age=120):
        """`table[year] = group` for years 0..max_age, for in-graph lookups."""
        return self.group_of(np.arange(max_age + 1))


SCHEMES = {
    "ffhq_aging": AgeGroupScheme(
        "ffhq_aging",
        ((0, 2), (3, 6), (7, 9), (10, 14), (15, 19), (20, 29), (30, 39), (40, 49), (50, 69), (70, 120)),
    ),
    "age_cgan": AgeGroupScheme(
        "age_cgan", ((0, 18), (19, 29), (30, 39), (40, 49), (50, 59), (60, 120))
    ),
    "two_groups": AgeGroupScheme("two_groups", ((20, 30), (40, 50))),
}


def get_scheme(name):
    """The `AgeGroupScheme` called `name`; a clear error for an unknown one."""
    try:
        return SCHEMES[name]
    except KeyError:
        raise ValueError(
            f"Unknown age-group scheme {name!r}; choose one of {sorted(SCHEMES)}."
        ) from None
