"""Fake MORPH-II releases in the real on-disk layout, for the reader tests.

The academic release: `morph_2008_nonCommercial.csv` with the columns below
and images `Album2/{id_num:06d}_{picture_num:02d}{M|F}{age:02d}.JPG`.
"""

import csv
import os

import numpy as np
from PIL import Image

from ragan_tf.data.synthetic_faces import render

CSV_NAME = "morph_2008_nonCommercial.csv"
COLUMNS = (
    "id_num", "picture_num", "dob", "doa", "race", "gender", "facial_hair", "age", "age_diff", "glasses", "photo",
)


def photo_name(id_num, picture_num, gender, age):
    """`Album2/003274_00M26.JPG`, as MORPH names its images."""
    return f"Album2/{int(id_num):06d}_{int(picture_num):02d}{gender}{int(age):02d}.JPG"


def morph_row(id_num, picture_num, gender, age, cells=None):
    """One CSV row (dict of strings) of the academic release; `cells` replace cells verbatim."""
    row = {
        "id_num": str(id_num),
        "picture_num": str(picture_num),
        "dob": "07/28/1975",
        "doa": f"12/06/{1975 + age}",
        "race": "B",
        "gender": gender,
        "facial_hair": "0",
        "age": str(age),
        "age_diff": "0",
        "glasses": "0",
        "photo": photo_name(id_num, picture_num, gender, age),
    }
    row.update(cells or {})
    return row


def write_csv(path, rows, columns=COLUMNS):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows({column: row.get(column, "") for column in columns} for row in rows)


def write_image(path, identity=0, age=30.0, face=False):
    """A JPEG at `path`: a synthetic face render (128 px, detectable) or a tiny flat image."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if face:
        rgb = render(identity, age, size=128).image
    else:
        rgb = np.full((16, 12, 3), (identity * 37) % 256, np.uint8)
    Image.fromarray(rgb).save(path, format="JPEG", quality=95)


def write_morph(root, rows, csv_path=CSV_NAME, image_root=None, missing=(), faces=False):
    """Writes a MORPH-II folder: the CSV and an image for every row's `photo`.

    Args:
        root: the manual dir.
        rows: CSV rows (dicts), e.g. from `morph_row`.
        csv_path: where the CSV goes, relative to `root`.
        image_root: folder the photo paths are relative to (default: the CSV's).
        missing: photos to leave out.
        faces: write synthetic face renders instead of tiny flat images.

    Returns:
        The CSV's path.
    """
    path = os.path.join(root, csv_path)
    image_root = image_root or os.path.dirname(path)
    columns = list(rows[0]) if rows else COLUMNS
    write_csv(path, rows, columns)
    for index, row in enumerate(rows):
        photo = next(value for name, value in row.items() if name.lower() in ("photo", "path", "filepath"))
        if photo and photo not in missing:
            identity = int(row["id_num"]) if row.get("id_num", "").isdigit() else index
            age = min(float(row["age"]), 80.0) if row.get("age", "").isdigit() else 30.0
            write_image(os.path.join(image_root, photo), identity, age, faces)
    return path


def standard_rows():
    """A small academic-release CSV: 6 people with 2 photos each, plus one row per skip reason.

    Returns:
        (rows, missing photos, expected skip reasons -> count).
    """
    rows = [
        morph_row(id_num, picture, "F" if id_num % 3 == 0 else "M", 18 + 5 * id_num + 3 * picture)
        for id_num in range(1, 7)
        for picture in range(2)
    ]
    rows += [
        morph_row(7, 0, "M", 30, {"age": ""}),
        morph_row(8, 0, "M", 30, {"age": "about 30"}),
        morph_row(9, 0, "M", 130),
        morph_row(10, 0, "M", 40, {"id_num": "x10"}),
        morph_row(11, 0, "M", 40, {"gender": "U"}),
        morph_row(12, 0, "F", 35),
        morph_row(1, 0, "M", 23, {"picture_num": "5"}),  # the same photo listed twice
    ]
    missing = {photo_name(12, 0, "F", 35)}
    skipped = {
        "missing age": 1,
        "unparsable age": 1,
        "age out of range": 1,
        "unparsable id": 1,
        "unparsable gender": 1,
        "image file missing": 1,
        "duplicate photo": 1,
    }
    return rows, missing, skipped
