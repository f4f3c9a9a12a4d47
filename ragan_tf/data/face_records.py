"""What every real-dataset reader produces, and the example format they share.

A reader turns a dataset's own metadata (file names, CSV, `.mat` files) into
`FaceRecord`s: one image file and the labels the dataset states for it,
before any pixel is read. Records that cannot be used (malformed names,
labels out of range, rows the cleaning rules drop) are not records: the
reader counts them by reason in its `ReadResult`, so a user sees what was
left out and why.

`ragan-tf prepare` (and each dataset's tensorflow-datasets builder) turns a
record into the **common example**, the same dictionary for every dataset:

    image        uint8 [S, S, 3]
    face_mask    uint8 [S, S, 1], 255 on the face, 0 elsewhere (soft edges
                 when it comes from landmarks)
    mask_source  "parsing" (the dataset's face-parsing map), "landmarks"
                 (dlib's 68 points at prepare time) or "none" (no mask could
                 be made: all ones, so nothing is masked out)
    age          float32 years; NaN when the dataset gives only a range
    age_low, age_high
                 int32 inclusive years the label states (an exact age gives
                 low == high == its whole years; FFHQ-Aging gives its group's
                 range); -1 when the age is unknown
    identity     int32, -1 when unknown
    gender       int32, 0 male, 1 female, -1 unknown (UTKFace's coding;
                 readers of datasets coded otherwise convert)
    key          the image's path relative to the raw dataset folder

The training pipeline maps `[age_low, age_high]` to an age group under the
experiment's scheme (a range that straddles two groups of the scheme is
excluded rather than guessed).
"""

import collections
import dataclasses
import math
import zlib

import numpy as np

from ragan_tf.config import ConfigError

MASK_SOURCES = ("parsing", "landmarks", "none")
IMAGE_FORMATS = ("raw", "png", "jpeg")
MAX_AGE = 120


@dataclasses.dataclass(frozen=True)
class FaceRecord:
    """One image of a dataset and its labels, before its pixels are read.

    Attributes:
        key: the image's path relative to the raw dataset folder (unique).
        image_path: where the image file is.
        split: "train" or "test".
        age: exact age in years, NaN when the dataset states only a range.
        age_low, age_high: inclusive years the label states; -1 when unknown.
        identity: person id, -1 when unknown.
        gender: 0 male, 1 female, -1 unknown.
        parsing_path: the face-parsing map (FFHQ-Aging), or None.
        face_box: (left, top, right, bottom) of the labelled face in image
            pixels where the dataset gives one (IMDB-WIKI), used to pick the
            right face in photos with several; or None.
        landmarks: [[x, y], ...] face landmarks in image pixels where the
            dataset ships them (CelebA's 5 points; dlib's 5 or 68 order),
            used instead of detection; or None.
    """

    key: str
    image_path: str
    split: str
    age: float = math.nan
    age_low: int = -1
    age_high: int = -1
    identity: int = -1
    gender: int = -1
    parsing_path: str | None = None
    face_box: tuple | None = None
    landmarks: tuple | None = None

    @property
    def has_age(self):
        return self.age_low >= 0


def exact_age(age):
    """`FaceRecord` age fields for an exact age in years: dict(age, age_low, age_high)."""
    age = float(age)
    return {"age": age, "age_low": int(math.floor(age)), "age_high": int(math.floor(age))}


def age_in_range(age):
    """True when `age` (years) is a number in [0, MAX_AGE]."""
    return age is not None and not math.isnan(age) and 0 <= age <= MAX_AGE


@dataclasses.dataclass
class ReadResult:
    """Records a reader produced, and what it skipped by reason.

    Attributes:
        records: the usable `FaceRecord`s, in a stable order.
        skipped: reason -> count.
        skipped_examples: reason -> up to `EXAMPLES_PER_REASON` names, for messages.
        notes: things the user should know that are not skips (e.g. labels
            taken from file names because a metadata file is absent).
    """

    records: list = dataclasses.field(default_factory=list)
    skipped: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    skipped_examples: dict = dataclasses.field(default_factory=dict)
    notes: list = dataclasses.field(default_factory=list)

    EXAMPLES_PER_REASON = 5

    def skip(self, reason, name):
        self.skipped[reason] += 1
        examples = self.skipped_examples.setdefault(reason, [])
        if len(examples) < self.EXAMPLES_PER_REASON:
            examples.append(str(name))

    def split(self, name):
        return [record for record in self.records if record.split == name]

    def summary(self):
        """One line per skip reason, with example names."""
        return [
            f"{reason}: {count} (e.g. {', '.join(self.skipped_examples.get(reason, []))})"
            for reason, count in sorted(self.skipped.items())
        ]


def hash_split(name, test_fraction):
    """"test" for a stable `test_fraction` of names, else "train".

    Used where a dataset has no official split: by identity where it has
    identities (so test people are unseen in training), else by file name.
    CRC-32 keeps the split the same on every machine and Python version.
    """
    if not 0.0 <= test_fraction < 1.0:
        raise ConfigError(f"test_fraction must be in [0, 1); got {test_fraction}.")
    bucket = zlib.crc32(str(name).encode("utf-8")) % 10_000
    return "test" if bucket < round(test_fraction * 10_000) else "train"


def check_manual_dir(manual_dir, required, dataset, instructions):
    """Raises FileNotFoundError naming what is missing from a raw dataset folder.

    Args:
        manual_dir: the folder the user downloaded the dataset into.
        required: relative paths that must exist there.
        dataset: the dataset's name, for the message.
        instructions: what to download and where to put it.
    """
    import os

    missing = [path for path in required if not os.path.exists(os.path.join(manual_dir, path))]
    if not os.path.isdir(manual_dir) or missing:
        what = f"folder {manual_dir!r} does not exist" if not os.path.isdir(manual_dir) else (
            f"{manual_dir!r} lacks {', '.join(missing)}"
        )
        raise FileNotFoundError(f"{dataset}: {what}.\n{instructions.strip()}")


def example_features(image_size, image_format="raw"):
    """The tensorflow-datasets `FeaturesDict` of the common example.

    Args:
        image_size: side S of images and masks.
        image_format: "raw" (uncompressed bytes: decodes at memory speed, ~4x
            the disk space of PNG), "png" (lossless, slower to decode) or
            "jpeg" (quality 95, smallest, slowest to decode). Masks are raw
            with "raw" and PNG otherwise.
    """
    import tensorflow_datasets as tfds

    if image_format not in IMAGE_FORMATS:
        raise ValueError(f"image_format must be one of {IMAGE_FORMATS}; got {image_format!r}.")
    shape = (image_size, image_size)
    if image_format == "raw":
        image = tfds.features.Tensor(shape=shape + (3,), dtype=np.uint8, encoding="bytes")
        mask = tfds.features.Tensor(shape=shape + (1,), dtype=np.uint8, encoding="bytes")
    else:
        image = tfds.features.Image(shape=shape + (3,), encoding_format=image_format)
        mask = tfds.features.Image(shape=shape + (1,), encoding_format="png")
    return tfds.features.FeaturesDict(
        {
            "image": image,
            "face_mask": mask,
            "mask_source": tfds.features.ClassLabel(names=MASK_SOURCES),
            "age": tfds.features.Scalar(dtype=np.float32),
            "age_low": tfds.features.Scalar(dtype=np.int32),
            "age_high": tfds.features.Scalar(dtype=np.int32),
            "identity": tfds.features.Scalar(dtype=np.int32),
            "gender": tfds.features.Scalar(dtype=np.int32),
            "key": tfds.features.Text(),
        }
    )


def record_labels(record):
    """The label fields of the common example for a record (numpy scalars)."""
    return {
        "age": np.float32(record.age),
        "age_low": np.int32(record.age_low),
        "age_high": np.int32(record.age_high),
        "identity": np.int32(record.identity),
        "gender": np.int32(record.gender),
        "key": record.key,
    }
