"""MORPH-II (MORPH Album 2): longitudinal mugshots with exact ages, from its CSV.

The academic release holds about 55,000 images of 13,000 people aged 16-77
and `morph_2008_nonCommercial.csv` with the columns

    id_num, picture_num, dob, doa, race, gender, facial_hair, age, age_diff, glasses, photo

(`photo` like `Album2/003274_00M26.JPG`, gender "M"/"F"). Copies passed
around (Kaggle and others) rename or drop columns, so the reader takes the
one `.csv` it finds (or the `csv` option), matches column names
case-insensitively and accepts the usual aliases: the image path as `photo`,
`path`, `filepath`, `file`, `filename`, `image` or `img_path`; the person as
`id_num`, `id` or `subject_id`; gender as `gender` or `sex`. Where the
person is not in the CSV it is read from the MORPH file name
(`{id_num}_{picture_num}{M|F}{age}.JPG`). Image paths are looked up relative
to the CSV's folder, then to the manual dir.

MORPH has no official split: people are split with a stable hash of their
id, so test people are unseen in training. Faces are detected and aligned
FFHQ-Aging style by `ragan-tf prepare`; masks come from landmarks.
"""

import os
import re

import tensorflow_datasets as tfds

from ragan_tf.config import ConfigError
from ragan_tf.data.datasets import DatasetSpec
from ragan_tf.data.face_records import (
    FaceRecord,
    ReadResult,
    age_in_range,
    check_manual_dir,
    exact_age,
    hash_split,
)
from ragan_tf.data.folder import (
    dataset_key,
    find_column,
    missing_columns_error,
    parse_number,
    parse_gender,
    read_csv_table,
)
from ragan_tf.data.manual_builder import ManualFaceDataset

PHOTO_COLUMNS = ("photo", "path", "filepath", "file", "filename", "image", "img_path")
IDENTITY_COLUMNS = ("id_num", "id", "subject_id")
GENDER_COLUMNS = ("gender", "sex")
# 003274_00M26.JPG: person 003274, picture 00, male, 26 years.
FILE_NAME = re.compile(r"^(?P<id_num>\d+)_\d+[MF]\d+\.", re.IGNORECASE)

INSTRUCTIONS = """
MORPH-II is licensed, not downloadable: request the academic (non-commercial)
release from the University of North Carolina Wilmington
(https://ebill.uncw.edu/C20231_ustores/web/store_main.jsp?STOREID=4).
Unpack it into one folder, the manual dir, so that it holds the CSV
(`morph_2008_nonCommercial.csv`) and the image folder its `photo` column
points into, e.g.

    MORPH/morph_2008_nonCommercial.csv
    MORPH/Album2/003274_00M26.JPG ...

Image paths are resolved relative to the CSV's folder and to the manual dir.
If the folder holds several .csv files, name the labels with
`--option csv=morph_2008_nonCommercial.csv`.
"""


def find_csv(manual_dir):
    """The one `.csv` file in `manual_dir` (searched recursively).

    Raises:
        FileNotFoundError: there is none.
        ValueError: there are several (the message lists them).
    """
    found = sorted(
        os.path.join(folder, name)
        for folder, _, names in os.walk(manual_dir)
        for name in names
        if name.lower().endswith(".csv")
    )
    if not found:
        raise FileNotFoundError(f"morph: no .csv file in {manual_dir!r}.\n{INSTRUCTIONS.strip()}")
    if len(found) > 1:
        names = ", ".join(dataset_key(path, manual_dir) for path in found)
        raise ConfigError(f"morph: several .csv files in {manual_dir!r} ({names}); choose one with --option csv=NAME.")
    return found[0]


def _image_path(photo, csv_dir, manual_dir):
    """The existing file `photo` names, relative to the CSV's folder or the manual dir; or None."""
    for folder in (csv_dir, manual_dir):
        path = os.path.normpath(os.path.join(folder, photo))
        if os.path.isfile(path):
            return path
    return None


def _identity(text, photo):
    """The person's id from the CSV cell, else from the MORPH file name; -1 if neither; None if unparsable.

    Integral floats ("3274.0", as pandas writes ids of a column with gaps) count as ids.
    """
    if text:
        number = parse_number(text)
        return int(number) if number is not None and number >= 0 and number.is_integer() else None
    match = FILE_NAME.match(os.path.basename(photo))
    return int(match["id_num"]) if match else -1


def read_records(manual_dir, csv=None, test_fraction=0.1):
    """Reads MORPH-II from its CSV.

    Args:
        manual_dir: the folder holding the CSV and the images.
        csv: the CSV, relative to `manual_dir` (or absolute); None takes the
            only `.csv` file in the folder.
        test_fraction: share of people in the test split.

    Returns:
        A `ReadResult`. Skip reasons: "missing age", "unparsable age",
        "age out of range", "unparsable id", "unparsable gender",
        "duplicate photo", "image file missing".

    Raises:
        FileNotFoundError: the folder or the CSV does not exist.
        ValueError: several CSVs and no `csv` option, or a CSV without an
            image-path or an age column (the message lists its columns).
    """
    check_manual_dir(manual_dir, [csv] if csv else [], "morph", INSTRUCTIONS)
    csv_path = os.path.join(manual_dir, csv) if csv else find_csv(manual_dir)
    columns, rows = read_csv_table(csv_path)
    photo_column = find_column(columns, PHOTO_COLUMNS)
    if photo_column is None or "age" not in columns:
        missing = [name for name, found in (("photo", photo_column), ("age", "age" in columns)) if not found]
        raise missing_columns_error("morph", csv_path, missing, columns)
    identity_column = find_column(columns, IDENTITY_COLUMNS)
    gender_column = find_column(columns, GENDER_COLUMNS)
    csv_dir = os.path.dirname(csv_path)

    result = ReadResult()
    records = {}
    for row in rows:
        photo = row[photo_column].replace("\\", "/")
        age = parse_number(row["age"])
        identity = _identity(row.get(identity_column, ""), photo)
        gender = parse_gender(row.get(gender_column, ""))
        image_path = _image_path(photo, csv_dir, manual_dir)
        key = dataset_key(image_path, manual_dir) if image_path else None
        if not row["age"]:
            result.skip("missing age", photo)
        elif age is None:
            result.skip("unparsable age", photo)
        elif not age_in_range(age):
            result.skip("age out of range", photo)
        elif identity is None:
            result.skip("unparsable id", photo)
        elif gender is None:
            result.skip("unparsable gender", photo)
        elif image_path is None:
            result.skip("image file missing", photo)
        elif key in records:
            result.skip("duplicate photo", photo)
        else:
            split = hash_split(identity if identity >= 0 else key, test_fraction)
            records[key] = FaceRecord(
                key=key, image_path=image_path, split=split, identity=identity, gender=gender, **exact_age(age)
            )
    result.records = [records[key] for key in sorted(records)]
    return result


SPEC = DatasetSpec(
    name="morph",
    title="MORPH-II",
    read_records=read_records,
    alignment="ffhq_aging",
    mask="landmarks",
    homepage="https://ebill.uncw.edu/C20231_ustores/web/store_main.jsp?STOREID=4",
    licence="MORPH academic (non-commercial) release licence of UNC Wilmington; not redistributable",
    instructions=INSTRUCTIONS,
    options={"csv": None, "test_fraction": 0.1},
    pipeline="pipelines/ragan_morph_256.yaml",
)


class Morph2(ManualFaceDataset):
    """MORPH-II in the common face example format."""

    SPEC = SPEC
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "MORPH-II from its CSV, identity-disjoint hash split."}
