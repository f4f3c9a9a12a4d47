"""A tiny IMDB-WIKI folder in the real on-disk format.

`imdb_crop/imdb.mat` and `wiki_crop/wiki.mat` are written by scipy as the
authors' files read: a 1 x 1 struct whose fields are 1 x N rows (cells for
full_path, name and face_location), so `loadmat(path)[db][0, 0][field][0]`
gives one entry per image. Images (synthetic renders, 128 px) sit in
`NN/` folders named after the last two digits of the person's id, under the
real file-name patterns `nm{id}_rm{photo}_{Y-M-D}_{year}.jpg` (IMDb) and
`{id}_{YYYY-MM-DD}_{year}.jpg` (WIKI).
"""

import dataclasses
import datetime
import math
import os

import numpy as np
from PIL import Image
from scipy.io import savemat

from ragan_tf.data.synthetic_faces import MAX_AGE, render

NAN = math.nan
IMDB_CELEBRITIES = ["Ada Lovelace", "Grace Hopper", "Katherine Johnson", "Alan Turing"]
FACE_LOCATION = (33.0, 29.0, 96.0, 92.0)  # 1-based inclusive [x1, y1, x2, y2] in the 128 px crop
NO_FACE_LOCATION = (1.0, 1.0, 1.0, 1.0)


@dataclasses.dataclass
class Row:
    """One image: its labels as the `.mat` states them, and how the fixture draws it."""

    person_id: int  # IMDb nm id / WIKI page id (file names only)
    name: str
    birth: datetime.date | None  # None: dob from `dob` instead
    photo_taken: int
    gender: float = 1.0  # IMDB-WIKI's coding: 1 male, 0 female, NaN unknown
    face_score: float = 3.5
    second_face_score: float = NAN
    celeb_id: int = 0
    dob: float = NAN  # used when `birth` is None
    on_disk: bool = True
    two_faces: bool = False  # the labelled face is the right one of two
    expect: str = "record"  # the reader's verdict with clean=True: "record" or a skip reason

    @property
    def matlab_dob(self):
        return self.birth.toordinal() + 366 if self.birth else self.dob

    def full_path(self, db):
        folder = f"{self.person_id % 100:02d}"
        if db == "imdb":  # like 01/nm0000001_rm124825600_1899-5-10_1968.jpg
            born = f"{self.birth.year}-{self.birth.month}-{self.birth.day}" if self.birth else "0-0-0"
            return f"{folder}/nm{self.person_id:07d}_rm{self.photo_taken}0001_{born}_{self.photo_taken}.jpg"
        born = self.birth.isoformat() if self.birth else "0000-00-00"  # like 17/10000217_1981-05-05_2009.jpg
        return f"{folder}/{self.person_id}_{born}_{self.photo_taken}.jpg"

    @property
    def age(self):
        return self.photo_taken - self.birth.year - (1 if self.birth.month >= 7 else 0)


def _imdb(celeb_id, **fields):
    return Row(person_id=celeb_id * 1001, name=IMDB_CELEBRITIES[celeb_id - 1], celeb_id=celeb_id, **fields)


ADA, GRACE, KATHERINE = datetime.date(1980, 3, 10), datetime.date(1975, 9, 20), datetime.date(1960, 1, 1)
IMDB_ROWS = [
    _imdb(1, birth=ADA, photo_taken=2010),  # 30
    _imdb(1, birth=ADA, photo_taken=2000, two_faces=True),  # 20
    _imdb(2, birth=GRACE, photo_taken=2005, gender=0.0),  # born in September: 29
    _imdb(3, birth=KATHERINE, photo_taken=2000, gender=0.0),  # 40, test split at 0.1
    _imdb(2, birth=GRACE, photo_taken=2006, face_score=-math.inf, expect="no face (face_score -inf)"),
    _imdb(2, birth=GRACE, photo_taken=2007, face_score=0.5, expect="low face score"),
    _imdb(1, birth=ADA, photo_taken=2011, second_face_score=2.1, expect="second face"),
    _imdb(4, birth=datetime.date(1890, 1, 5), photo_taken=2010, expect="age out of range"),  # 120
    _imdb(4, birth=datetime.date(1912, 6, 23), photo_taken=1950, gender=NAN, expect="gender unknown"),
    _imdb(4, birth=None, dob=0.0, photo_taken=1950, expect="invalid date of birth or photo year"),
    _imdb(4, birth=None, dob=NAN, photo_taken=1951, expect="invalid date of birth or photo year"),
    _imdb(3, birth=KATHERINE, photo_taken=2001, on_disk=False, expect="image file missing"),
    _imdb(3, birth=KATHERINE, photo_taken=1950, expect="age out of range"),  # -10
]
WIKI_ROWS = [
    Row(10000217, "Katherine Johnson", KATHERINE, 1990, gender=0.0),  # also in IMDb
    Row(1234502, "Zed Person", datetime.date(1970, 7, 1), 2000),  # born 1 July: 29
    Row(555503, "", datetime.date(1985, 12, 31), 2010),  # no name: identity -1
    Row(777704, "Alan Turing", datetime.date(1912, 6, 23), 1951, face_score=0.9, expect="low face score"),
]
ROWS = {"imdb": IMDB_ROWS, "wiki": WIKI_ROWS}


def _row_vector(values, dtype):
    return np.asarray(values, dtype).reshape(1, -1)


def _cells(values):
    cells = np.empty((1, len(values)), dtype=object)
    for index, value in enumerate(values):
        cells[0, index] = value
    return cells


def _struct(db, rows):
    fields = {
        "dob": _row_vector([row.matlab_dob for row in rows], np.float64),
        "photo_taken": _row_vector([row.photo_taken for row in rows], np.uint16),
        "full_path": _cells([row.full_path(db) for row in rows]),
        "gender": _row_vector([row.gender for row in rows], np.float64),
        "name": _cells([row.name for row in rows]),
        "face_location": _cells(
            [
                np.asarray(FACE_LOCATION if math.isfinite(row.face_score) else NO_FACE_LOCATION).reshape(1, 4)
                + ([128.0, 0.0, 128.0, 0.0] if row.two_faces else 0.0)
                for row in rows
            ]
        ),
        "face_score": _row_vector([row.face_score for row in rows], np.float64),
        "second_face_score": _row_vector([row.second_face_score for row in rows], np.float64),
    }
    if db == "imdb":
        fields["celeb_names"] = _cells(IMDB_CELEBRITIES)
        fields["celeb_id"] = _row_vector([row.celeb_id for row in rows], np.uint16)
    return fields


def face_image(row):
    """The row's image: one synthetic face, or two side by side (the labelled one on the right)."""
    age = min(max(row.age if row.birth else 40, 0), MAX_AGE)
    face = render(row.person_id % 1000, age, size=128).image
    if row.two_faces:
        return np.concatenate([render(row.person_id % 1000 + 1, 70, size=128).image, face], axis=1)
    return face


def write_imdb_wiki(root, subsets=("imdb", "wiki")):
    """Writes the fake dataset under `root` and returns `root`.

    Args:
        root: the manual dir.
        subsets: which halves to write.
    """
    for db in subsets:
        folder = os.path.join(root, f"{db}_crop")
        rows = ROWS[db]
        for row in rows:
            path = os.path.join(folder, row.full_path(db))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if row.on_disk:
                Image.fromarray(face_image(row)).save(path, quality=90)
        savemat(os.path.join(folder, f"{db}.mat"), {db: _struct(db, rows)})
    return root
