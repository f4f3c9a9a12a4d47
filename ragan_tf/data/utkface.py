"""UTKFace: 23,708 aligned face chips labelled by file name (Zhang, Song and Qi, CVPR 2017).

Each file is named `[age]_[gender]_[race]_[yyyymmddHHMMSSFFF].jpg.chip.jpg`:
age in years (0-116), gender 0 male / 1 female, race 0-4 (White, Black,
Asian, Indian, Others; checked, not stored). A few names in the archive are
malformed (a missing race or gender field, a missing dot, a space, a wrong
extension): they are skipped and counted. The in-the-wild archives' names
(`....jpg`, without `.chip.jpg`) are read too; those photos are not aligned,
so prepare them with an alignment recipe instead of the default "none".

There are no identities and no official split: the test split is a stable
hash of the file name (`hash_split`).
"""

import os
import re

import tensorflow_datasets as tfds

from ragan_tf.data.datasets import DatasetSpec
from ragan_tf.data.face_records import (
    FaceRecord,
    ReadResult,
    age_in_range,
    check_manual_dir,
    exact_age,
    hash_split,
)
from ragan_tf.data.manual_builder import ManualFaceDataset

IMAGE_DIR = "UTKFace"
FILE_NAME_PATTERN = re.compile(r"(\d+)_([01])_([0-4])_(\d+)\.jpg(\.chip\.jpg)?")

INSTRUCTIONS = """\
Download "Aligned&Cropped Faces" (UTKFace.tar.gz, 23,708 face chips of
200x200 px) from https://susanqq.github.io/UTKFace/ (non-commercial research
use only) and extract it into the manual dir, giving

    UTKFace/[age]_[gender]_[race]_[yyyymmddHHMMSSFFF].jpg.chip.jpg

The chips may also lie directly in the manual dir.
"""


def find_image_dir(manual_dir):
    """`manual_dir/UTKFace` when it exists, else `manual_dir` itself.

    Raises:
        FileNotFoundError: `manual_dir` does not exist.
    """
    check_manual_dir(manual_dir, [], "UTKFace", INSTRUCTIONS)
    subfolder = os.path.join(manual_dir, IMAGE_DIR)
    return subfolder if os.path.isdir(subfolder) else manual_dir


def parse_file_name(name):
    """`(age, gender, race)` from a UTKFace file name, or None when it is malformed."""
    match = FILE_NAME_PATTERN.fullmatch(name)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def read_records(manual_dir, test_fraction=0.1):
    """Reads UTKFace's file names into records.

    Files are skipped as "malformed file name" or "age out of range" (over
    120); hidden files and files whose names do not end in ".jpg" are not
    dataset images and are ignored.

    Args:
        manual_dir: the folder holding `UTKFace/` (see `INSTRUCTIONS`).
        test_fraction: share of files in the test split.

    Returns:
        A `ReadResult` of records sorted by key; gender known, identity -1.

    Raises:
        FileNotFoundError: `manual_dir` is missing or holds no ".jpg" file.
    """
    image_dir = find_image_dir(manual_dir)
    names = sorted(
        name
        for name in os.listdir(image_dir)
        if name.lower().endswith(".jpg")
        and not name.startswith(".")  # hidden files, e.g. macOS "._" copies
        and os.path.isfile(os.path.join(image_dir, name))
    )
    if not names:
        raise FileNotFoundError(f"UTKFace: {image_dir!r} holds no .jpg file.\n{INSTRUCTIONS.strip()}")
    prefix = "" if image_dir == manual_dir else f"{IMAGE_DIR}/"
    result = ReadResult()
    for name in names:
        labels = parse_file_name(name)
        if labels is None:
            result.skip("malformed file name", name)
            continue
        age, gender, _race = labels
        if not age_in_range(age):
            result.skip("age out of range", name)
            continue
        result.records.append(
            FaceRecord(
                key=prefix + name,
                image_path=os.path.join(image_dir, name),
                split=hash_split(name, test_fraction),
                gender=gender,
                **exact_age(age),
            )
        )
    result.records.sort(key=lambda record: record.key)
    return result


SPEC = DatasetSpec(
    name="utkface",
    title="UTKFace",
    read_records=read_records,
    alignment="none",  # aligned 200x200 chips
    mask="landmarks",
    homepage="https://susanqq.github.io/UTKFace/",
    licence="Non-commercial research purposes only; image copyright remains with the original owners",
    instructions=INSTRUCTIONS,
    options=dict(test_fraction=0.1),
    pipeline="pipelines/ragan_utkface_128.yaml",
)


class Utkface(ManualFaceDataset):
    """UTKFace in the common face example format (registered as "utkface")."""

    SPEC = SPEC
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release: labels from file names, hash split by file name."}
