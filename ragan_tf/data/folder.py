"""A user's own face collection: image files and a CSV of their labels.

The CSV (`labels.csv` in the collection's folder unless the `csv` option
names another) has one row per image:

    file,age,identity,gender,split
    alice/2019.jpg,34,alice,f,
    alice/2021.jpg,36,alice,f,
    bob/holiday.png,,bob,male,test

- `file` (required): the image, relative to the CSV's folder.
- `age` (required column): years; an empty cell means unknown, and the image
  is kept with `age_low = age_high = -1` for models that need no age.
- `identity` (optional): any text naming the person; mapped to integers
  0, 1, ... in sorted order of the names kept.
- `gender` (optional): 0/1, m/f or male/female (any case); empty = unknown.
- `split` (optional): "train", "test" or empty. Empty puts a stable
  `test_fraction` in the test split: by identity where it is known (so test
  people are unseen in training), else by file name.

Column names are matched case-insensitively. The collection is cut and
aligned FFHQ-Aging style by `ragan-tf prepare` (`alignment` is a `prepare`
setting, not a reader option) and its face masks come from landmarks.
"""

import csv
import math
import os

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

GENDER_CODES = {"0": 0, "m": 0, "male": 0, "1": 1, "f": 1, "female": 1}
SPLITS = ("train", "test")

INSTRUCTIONS = """
Put your images in one folder (subfolders are fine) and, next to them, a CSV
file `labels.csv` with a header row and the columns `file,age` plus,
optionally, `identity`, `gender` and `split`:

    file,age,identity,gender,split
    alice/2019.jpg,34,alice,f,
    bob/holiday.png,,bob,male,test

`file` is relative to the CSV's folder; an empty `age` means unknown; gender
is 0/1, m/f or male/female; split is train, test or empty (then a stable 10%
of the people go to test). Pass the folder as the manual dir; name another
CSV with `--option csv=other.csv`.
"""


def read_csv_table(path):
    """The rows of a CSV with a header, as dicts keyed by lower-cased column names.

    Cells are stripped strings ("" where a row is short); a UTF-8 byte-order
    mark (as spreadsheet programs write) is dropped; ",", ";" and tab
    delimiters are recognised.

    Returns:
        (column names in file order, list of row dicts).
    """
    with open(path, newline="", encoding="utf-8-sig") as file:
        header = file.readline()
        try:
            dialect = csv.Sniffer().sniff(header, delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        file.seek(0)
        reader = csv.reader(file, dialect)
        columns = [name.strip().lower() for name in next(reader, [])]
        rows = [
            {column: (cells[i].strip() if i < len(cells) else "") for i, column in enumerate(columns)}
            for cells in reader
            if any(cell.strip() for cell in cells)
        ]
    return columns, rows


def find_column(columns, names):
    """The first of `names` (lower case) that is one of `columns`, or None."""
    return next((name for name in names if name in columns), None)


def missing_columns_error(dataset, csv_path, missing, columns):
    """The ValueError for a CSV that lacks required columns, listing those it has."""
    return ValueError(
        f"{dataset}: {csv_path} has no {' or '.join(repr(name) for name in missing)} column; "
        f"columns found: {', '.join(columns) or 'none'}."
    )


def parse_gender(text):
    """0 male, 1 female, -1 for an empty cell; None when the text is not a gender."""
    if not text:
        return -1
    return GENDER_CODES.get(text.strip().lower())


def parse_number(text):
    """The number a CSV cell holds as a float, or None when it holds none (or NaN)."""
    try:
        number = float(text)
    except ValueError:
        return None
    return None if math.isnan(number) else number


def dataset_key(path, manual_dir):
    """`path` relative to the raw dataset folder, with "/" separators."""
    return os.path.relpath(path, manual_dir).replace(os.sep, "/")


def read_records(manual_dir, csv="labels.csv", test_fraction=0.1):
    """Reads a user's labelled image folder.

    Args:
        manual_dir: the collection's folder.
        csv: the labels CSV, relative to `manual_dir` (or absolute).
        test_fraction: share of people (or of files, for rows without an
            identity) put in the test split when the CSV names no split.

    Returns:
        A `ReadResult`. Skip reasons: "unparsable age", "age out of range",
        "unparsable gender", "unknown split", "duplicate file",
        "image file missing".

    Raises:
        FileNotFoundError: the folder or the CSV does not exist.
        ValueError: the CSV has no `file` or no `age` column.
    """
    check_manual_dir(manual_dir, [csv], "folder", INSTRUCTIONS)
    csv_path = os.path.join(manual_dir, csv)
    csv_dir = os.path.dirname(csv_path)
    columns, rows = read_csv_table(csv_path)
    missing = [name for name in ("file", "age") if name not in columns]
    if missing:
        raise missing_columns_error("folder", csv_path, missing, columns)

    result = ReadResult()
    kept = {}  # key -> (row fields, identity name)
    for row in rows:
        name = row["file"].replace("\\", "/")
        age = parse_number(row["age"]) if row["age"] else math.nan  # empty: unknown age
        gender = parse_gender(row.get("gender", ""))
        split = row.get("split", "").lower()
        image_path = os.path.normpath(os.path.join(csv_dir, name))
        key = dataset_key(image_path, manual_dir)
        if age is None:
            result.skip("unparsable age", name)
        elif not math.isnan(age) and not age_in_range(age):
            result.skip("age out of range", name)
        elif gender is None:
            result.skip("unparsable gender", name)
        elif split and split not in SPLITS:
            result.skip("unknown split", name)
        elif key in kept:
            result.skip("duplicate file", name)
        elif not os.path.isfile(image_path):
            result.skip("image file missing", name)
        else:
            identity_name = row.get("identity", "")
            split = split or hash_split(identity_name or key, test_fraction)
            ages = exact_age(age) if not math.isnan(age) else {}
            kept[key] = (dict(key=key, image_path=image_path, split=split, gender=gender, **ages), identity_name)

    identities = {name: index for index, name in enumerate(sorted({name for _, name in kept.values() if name}))}
    result.records = [
        FaceRecord(**fields, identity=identities.get(identity_name, -1))
        for _, (fields, identity_name) in sorted(kept.items())
    ]
    return result


SPEC = DatasetSpec(
    name="folder",
    title="Your own face collection (folder + CSV)",
    read_records=read_records,
    alignment="ffhq_aging",
    mask="landmarks",
    homepage="",
    licence="whatever applies to your images",
    instructions=INSTRUCTIONS,
    options={"csv": "labels.csv", "test_fraction": 0.1},
    pipeline="pipelines/ragan_folder_256.yaml",
)


class FaceFolder(ManualFaceDataset):
    """A user's labelled image folder in the common face example format."""

    SPEC = SPEC
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Folder + CSV reader."}
