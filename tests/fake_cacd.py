"""A tiny CACD2000 folder in the real on-disk format.

`CACD2000/{age}_{Name_Parts}_{NNNN}.jpg` face images (synthetic renders),
`celebrity2000_meta.mat` written by scipy (MATLAB v5, as the authors ship
it) and `celebrity2000.mat` in MATLAB v7.3 layout: an HDF5 file behind a
512-byte MATLAB header, structs as groups, N x 1 columns stored 1 x N, and
cell arrays of strings as object references to uint16 char arrays under
`#refs#`.
"""

import os

import h5py
import numpy as np
from PIL import Image
from scipy.io import savemat

from ragan_tf.data.synthetic_faces import MAX_AGE, render

# identity, name as in the file names, birth year, rank, in LFW
CELEBRITIES = [
    (1, "Aaron_Johnson", 1990, 1, 0),
    (2, "Robert_Downey_Jr.", 1965, 2, 1),
    (3, "Zoë_Saldaña", 1978, 3, 0),
    (4, "Madonna", 1958, 4, 1),
]
NAMES = {identity: name for identity, name, *_ in CELEBRITIES}
# (age, identity, number) of the images on disk and in the metadata
IMAGES = [
    (20, 1, 1),
    (21, 1, 1),
    (21, 1, 2),
    (44, 2, 1),
    (48, 2, 4),
    (33, 3, 1),
    (52, 4, 1),
]
LISTED_MISSING = (30, 3, 7)  # in the metadata, not on disk: "image file missing"
AGE_150 = (150, 4, 1)  # on disk and in the metadata: "age out of range"
UNLISTED = "35_Madonna_0009.jpg"  # on disk only: "not in metadata" (a record without the .mat)
STRAY = "Thumbs.db"  # on disk only: "not in metadata" / "malformed file name"
MALFORMED_ROW = "notes.jpg"  # in the metadata only: "malformed file name"
METADATA_FORMATS = ("v5", "v7.3", "both", "none")


def file_name(age, identity, number):
    return f"{age}_{NAMES[identity]}_{number:04d}.jpg"


def _write_face(path, identity, age):
    Image.fromarray(render(identity, min(age, MAX_AGE), size=128).image).save(path, quality=90)


def _metadata_rows():
    """(file name, age, identity) per celebrityImageData entry, with a duplicate row."""
    rows = [(file_name(*image), image[0], image[1]) for image in IMAGES + [LISTED_MISSING, AGE_150]]
    rows.append(rows[0])  # "duplicate metadata row"
    rows.append((MALFORMED_ROW, 40, 1))
    return rows


def _image_fields(rows):
    ages = [age for _, age, _ in rows]
    identities = [identity for _, _, identity in rows]
    births = [CELEBRITIES[identity - 1][2] for identity in identities]
    ranks = [CELEBRITIES[identity - 1][3] for identity in identities]
    lfw = [CELEBRITIES[identity - 1][4] for identity in identities]
    return {
        "age": ages,
        "identity": identities,
        "year": [birth + age for birth, age in zip(births, ages)],
        "feature": None,
        "rank": ranks,
        "lfw": lfw,
        "birth": births,
        "name": [name for name, _, _ in rows],
    }


def _celebrity_fields():
    return {
        "name": [name.replace("_", " ") for _, name, *_ in CELEBRITIES],
        "identity": [identity for identity, *_ in CELEBRITIES],
        "birth": [birth for _, _, birth, _, _ in CELEBRITIES],
        "rank": [rank for *_, rank, _ in CELEBRITIES],
        "lfw": [lfw for *_, lfw in CELEBRITIES],
    }


def _column(values):
    return np.asarray(values, np.float64).reshape(-1, 1)


def _cell_column(strings):
    cells = np.empty((len(strings), 1), dtype=object)
    for index, text in enumerate(strings):
        cells[index, 0] = text
    return cells


def write_v5_metadata(path, image_fields, celebrity_fields):
    """`celebrity2000_meta.mat` as scipy reads it: N x 1 columns, names as N x 1 cells."""

    def struct(fields):
        return {
            field: (
                _cell_column(values)
                if field == "name"
                else np.zeros((0, 0)) if values is None else _column(values)
            )
            for field, values in fields.items()
        }

    savemat(path, {"celebrityData": struct(celebrity_fields), "celebrityImageData": struct(image_fields)})


def _matlab_header():
    text = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  5 12:00:00 2015 HDF5 schema 1.00 ."
    return text.ljust(116) + b"\0" * 8 + (0x0200).to_bytes(2, "little") + b"IM"


def write_v73_metadata(path, image_fields, celebrity_fields, feature_size=4):
    """`celebrity2000.mat` in MATLAB v7.3 (HDF5) layout."""
    with h5py.File(path, "w", userblock_size=512) as mat:
        refs = mat.create_group("#refs#")

        def char_array(text):
            codes = np.frombuffer(text.encode("utf-16-le"), "<u2").reshape(-1, 1)  # 1 x len in MATLAB
            dataset = refs.create_dataset(f"s{len(refs)}", data=codes)
            dataset.attrs["MATLAB_class"] = np.bytes_("char")
            dataset.attrs["MATLAB_int_decode"] = np.int32(2)
            return dataset.ref

        def struct(name, fields, rows):
            group = mat.create_group(name)
            group.attrs["MATLAB_class"] = np.bytes_("struct")
            field_names = np.empty(len(fields), dtype=object)  # MATLAB keeps the field order here
            for index, field in enumerate(fields):
                field_names[index] = np.frombuffer(field.encode(), "S1")
            group.attrs.create("MATLAB_fields", field_names, dtype=h5py.vlen_dtype(np.dtype("S1")))
            for field, values in fields.items():
                if field == "name":
                    data = np.array([char_array(text) for text in values], dtype=h5py.ref_dtype).reshape(1, -1)
                    matlab_class = "cell"
                elif values is None:
                    data = np.zeros((feature_size, rows), np.float64)  # N x feature_size in MATLAB
                    matlab_class = "double"
                else:
                    data = np.asarray(values, np.float64).reshape(1, -1)
                    matlab_class = "double"
                group.create_dataset(field, data=data).attrs["MATLAB_class"] = np.bytes_(matlab_class)

        struct("celebrityData", celebrity_fields, len(CELEBRITIES))
        struct("celebrityImageData", image_fields, len(image_fields["age"]))
    with open(path, "r+b") as file:
        file.write(_matlab_header())


def write_cacd(root, metadata="v5"):
    """Writes the fake dataset under `root` and returns `root`.

    Args:
        root: the manual dir.
        metadata: "v5" (`celebrity2000_meta.mat`), "v7.3" (`celebrity2000.mat`),
            "both" or "none".
    """
    if metadata not in METADATA_FORMATS:
        raise ValueError(f"metadata must be one of {METADATA_FORMATS}; got {metadata!r}.")
    image_dir = os.path.join(root, "CACD2000")
    os.makedirs(image_dir, exist_ok=True)
    for age, identity, number in IMAGES + [AGE_150]:
        _write_face(os.path.join(image_dir, file_name(age, identity, number)), identity, age)
    _write_face(os.path.join(image_dir, UNLISTED), 4, 35)
    with open(os.path.join(image_dir, STRAY), "wb") as file:
        file.write(b"\0" * 16)
    image_fields, celebrity_fields = _image_fields(_metadata_rows()), _celebrity_fields()
    if metadata in ("v5", "both"):
        write_v5_metadata(os.path.join(root, "celebrity2000_meta.mat"), image_fields, celebrity_fields)
    if metadata in ("v7.3", "both"):
        write_v73_metadata(os.path.join(root, "celebrity2000.mat"), image_fields, celebrity_fields)
    return root
