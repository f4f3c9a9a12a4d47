"""IMDB-WIKI: 523,051 celebrity face crops from IMDb and Wikipedia, with age and gender.

On disk, as its authors ship the "faces only" archives:

    imdb_crop/imdb.mat, imdb_crop/00/ ... imdb_crop/99/    460,723 .jpg
    wiki_crop/wiki.mat, wiki_crop/00/ ... wiki_crop/99/     62,328 .jpg

Each `.mat` holds one struct whose fields are 1 x N rows, read as
`loadmat(path)[db][0, 0][field][0]`: dob (MATLAB serial date number),
photo_taken (year), full_path (relative to the `.mat`'s folder), gender
(0 female, 1 male, NaN unknown), name, face_location (1-based inclusive
`[x1, y1, x2, y2]`, taken to be in the crop's pixels), face_score (-inf when
no face was found), second_face_score (NaN when there is no second face),
and for IMDb celeb_names and celeb_id. The age is the photo year minus the
birth year with the photo taken on 1 July, as the usual loaders compute it.
Labels are noisy (stills from films with long productions, wrong
timestamps): the usual cleaning (`clean=True`) keeps single, confidently
detected faces with a known gender aged 0-100.
"""

import datetime
import math
import os

import numpy as np
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
from ragan_tf.data.manual_builder import ManualFaceDataset

SUBSETS = {"imdb": ("imdb",), "wiki": ("wiki",), "both": ("imdb", "wiki")}
# WIKI has no person ids: its sorted names are numbered from here, above IMDb's 20,284 celeb_ids.
WIKI_IDENTITY_OFFSET = 100_000
CLEAN_MAX_AGE = 100
TEXT_FIELDS = ("full_path", "name")
NUMBER_FIELDS = ("dob", "photo_taken", "gender", "face_score", "second_face_score", "celeb_id")

INSTRUCTIONS = """
Download the "faces only" archives of IMDB-WIKI from
https://data.vision.ee.ethz.ch/cvl/rrothe/imdb-wiki/ : imdb_crop.tar (7 GB)
and wiki_crop.tar (1 GB). Extract both into the manual dir, so that it holds:

    imdb_crop/imdb.mat
    imdb_crop/00/ ... imdb_crop/99/   (.jpg files)
    wiki_crop/wiki.mat
    wiki_crop/00/ ... wiki_crop/99/   (.jpg files)

With `--option subset=imdb` (or `wiki`) only that half is needed.
"""


def age_at_photo(dob, photo_taken):
    """Age in whole years on 1 July of `photo_taken`, or None when either is no date.

    Args:
        dob: date of birth as a MATLAB serial date number (day 1 is 1 January of year 0).
        photo_taken: the year the photo was taken.
    """
    if not (math.isfinite(dob) and math.isfinite(photo_taken)):
        return None
    day = math.floor(dob) - 366  # MATLAB counts days from year 0, Python from year 1
    if not 1 <= day <= datetime.date.max.toordinal():
        return None
    birth = datetime.date.fromordinal(day)
    return int(photo_taken) - birth.year - (1 if birth.month >= 7 else 0)


def _gender(value):
    """IMDB-WIKI's 1 male / 0 female / NaN -> 0 male / 1 female / -1 unknown."""
    if value == 1:
        return 0
    if value == 0:
        return 1
    return -1


def _text(cell):
    """A MATLAB char array cell as loadmat gives it (empty for a missing name) -> str."""
    return str(cell[0]) if cell.size else ""


def _face_box(location, face_score):
    """MATLAB's 1-based inclusive [x1, y1, x2, y2] -> `FaceRecord.face_box`, or None without a face."""
    values = [float(value) for value in location.ravel()]
    if not math.isfinite(face_score) or len(values) != 4 or not all(map(math.isfinite, values)):
        return None
    left, top, right, bottom = values
    return (left - 1.0, top - 1.0, right, bottom)


def read_metadata(path, db):
    """The columns of `imdb.mat` or `wiki.mat`, one entry per image.

    Args:
        path: the `.mat` file.
        db: its struct's name, "imdb" or "wiki".

    Returns:
        A dict of lists: full_path and name as str; dob, photo_taken,
        gender, face_score, second_face_score and (IMDb) celeb_id as float;
        face_location as arrays.
    """
    from scipy.io import loadmat

    meta = loadmat(path)[db][0, 0]
    columns = {}
    for field in meta.dtype.names:
        values = meta[field][0]
        if field in TEXT_FIELDS:
            columns[field] = [_text(cell) for cell in values]
        elif field in NUMBER_FIELDS:
            columns[field] = values.astype(np.float64).tolist()
        elif field == "face_location":
            columns[field] = list(values)
    return columns


def _existing_files(folder):
    """'NN/file.jpg' for every file one folder below `folder`."""
    found = set()
    for subfolder in os.scandir(folder):
        if subfolder.is_dir():
            found.update(f"{subfolder.name}/{entry.name}" for entry in os.scandir(subfolder.path) if entry.is_file())
    return found


def _usable(row, result, key, clean, min_face_score):
    """The row's age in years, or None after counting why the row is skipped."""
    age = age_at_photo(row["dob"], row["photo_taken"])
    if age is None:
        result.skip("invalid date of birth or photo year", key)
    elif clean and row["face_score"] == -math.inf:
        result.skip("no face (face_score -inf)", key)
    elif clean and not row["face_score"] >= min_face_score:
        result.skip("low face score", key)
    elif clean and not math.isnan(row["second_face_score"]) and row["second_face_score"] > 0.0:
        result.skip("second face", key)
    elif not age_in_range(age) or (clean and age > CLEAN_MAX_AGE):
        result.skip("age out of range", key)
    elif clean and _gender(row["gender"]) == -1:
        result.skip("gender unknown", key)
    else:
        return age
    return None


def _identities(db, columns):
    """Person id per row: IMDb's celeb_id, WIKI's sorted names numbered from `WIKI_IDENTITY_OFFSET`."""
    if db == "imdb":
        return [int(celeb_id) if math.isfinite(celeb_id) and celeb_id > 0 else -1 for celeb_id in columns["celeb_id"]]
    ids = {name: WIKI_IDENTITY_OFFSET + index for index, name in enumerate(sorted(set(columns["name"]) - {""}))}
    return [ids.get(name, -1) for name in columns["name"]]


def read_records(manual_dir, subset="both", clean=True, min_face_score=1.0, test_fraction=0.1):
    """Reads IMDB-WIKI's `.mat` metadata into `FaceRecord`s.

    Args:
        manual_dir: the folder holding `imdb_crop/` and `wiki_crop/`.
        subset: "imdb", "wiki" or "both".
        clean: apply the usual cleaning: a face was found with
            `face_score >= min_face_score`, no second face, age 0-100,
            gender known. Without it only rows whose age cannot be computed
            or lies outside 0-120 are skipped.
        min_face_score: the face-score threshold of the cleaning.
        test_fraction: share of people in the test split (`hash_split` by
            the person's name, so a person is on one side also where both
            IMDb and WIKI have them; nameless rows by file).
    """
    if subset not in SUBSETS:
        raise ConfigError(f"subset must be one of {', '.join(SUBSETS)}; got {subset!r}.")
    databases = SUBSETS[subset]
    check_manual_dir(manual_dir, [f"{db}_crop/{db}.mat" for db in databases], "IMDB-WIKI", INSTRUCTIONS)
    result = ReadResult()
    seen = set()
    for db in databases:
        folder = os.path.join(manual_dir, f"{db}_crop")
        columns = read_metadata(os.path.join(folder, f"{db}.mat"), db)
        existing = _existing_files(folder)
        for index, identity in enumerate(_identities(db, columns)):
            row = {field: values[index] for field, values in columns.items()}
            key = f"{db}_crop/{row['full_path']}"
            if key in seen:
                result.skip("duplicate metadata row", key)
                continue
            seen.add(key)
            age = _usable(row, result, key, clean, min_face_score)
            if age is None:
                continue
            if row["full_path"] not in existing:
                result.skip("image file missing", key)
                continue
            result.records.append(
                FaceRecord(
                    key=key,
                    image_path=os.path.join(folder, row["full_path"]),
                    split=hash_split(row["name"] or key, test_fraction),
                    identity=identity,
                    gender=_gender(row["gender"]),
                    face_box=_face_box(row["face_location"], row["face_score"]),
                    **exact_age(age),
                )
            )
    result.records.sort(key=lambda record: record.key)
    return result


SPEC = DatasetSpec(
    name="imdb_wiki",
    title="IMDB-WIKI",
    read_records=read_records,
    alignment="ffhq_aging",
    mask="landmarks",
    homepage="https://data.vision.ee.ethz.ch/cvl/rrothe/imdb-wiki/",
    licence="For academic research purposes only; the images' copyright stays with their owners.",
    instructions=INSTRUCTIONS,
    options={"subset": "both", "clean": True, "min_face_score": 1.0, "test_fraction": 0.1},
    pipeline="pipelines/ragan_imdb_wiki_256.yaml",
)


class ImdbWiki(ManualFaceDataset):
    """IMDB-WIKI aligned FFHQ-Aging style, with landmark face masks (`tfds` name "imdb_wiki")."""

    SPEC = SPEC
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
