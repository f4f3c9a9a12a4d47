"""CACD2000, the Cross-Age Celebrity Dataset: 163,446 photos of 2,000 celebrities aged 14-62.

On disk, as its authors ship it:

    CACD2000/{age}_{Name_Parts}_{NNNN}.jpg    e.g. 53_Robin_Williams_0001.jpg,
                                              48_Robert_Downey_Jr._0004.jpg
    celebrity2000_meta.mat                    the labels (MATLAB v5: scipy)
    celebrity2000.mat                         the labels and LBP features
                                              (MATLAB v7.3, i.e. HDF5: h5py)

Both `.mat` files hold the struct `celebrityImageData` with one entry per
image (fields age, identity, year, feature, rank, lfw, birth, name; `name`
is the image's file name) and `celebrityData` with one per celebrity. The
reader takes age and identity from whichever `.mat` is there and falls back
to the file names (with a warning) when neither is. The images are loose
face crops: `prepare` detects and aligns them.
"""

import math
import os
import re
import warnings

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

IMAGE_FOLDER = "CACD2000"
# Both carry the same labels; the small one is read first.
METADATA_FILES = ("celebrity2000_meta.mat", "celebrity2000.mat")
# The person's name is everything between the age and the last number.
FILE_NAME = re.compile(r"^(?P<age>\d+)_(?P<name>.+)_(?P<number>\d+)\.jpg$", re.IGNORECASE)

INSTRUCTIONS = """
Download CACD2000 from https://bcsiriuschen.github.io/CARC/ : the face images
(CACD2000.tar.gz) and the metadata (celebrity2000_meta.mat; celebrity2000.mat,
the metadata with features, works too). Extract the images so that the
manual dir holds:

    CACD2000/14_Aaron_Johnson_0001.jpg ... (163,446 .jpg files)
    celebrity2000_meta.mat

Without a .mat file, ages and identities are read from the file names.
"""


def parse_file_name(file_name):
    """`(age, person_name)` from a CACD2000 file name, or None when it does not match."""
    match = FILE_NAME.match(file_name)
    if match is None:
        return None
    return int(match["age"]), match["name"]


def _matlab_string(dataset):
    """A MATLAB v7.3 char array (uint16 UTF-16 code units) as a str."""
    if dataset.attrs.get("MATLAB_empty", 0):
        return ""
    return dataset[()].astype("<u2").tobytes().decode("utf-16-le")


def _read_hdf5_metadata(path):
    import h5py

    with h5py.File(path, "r") as mat:
        images = mat["celebrityImageData"]
        # MATLAB's N x 1 columns are 1 x N in HDF5; `name` holds references to char arrays.
        names = [_matlab_string(mat[reference]) for reference in images["name"][()].ravel()]
        return names, images["age"][()].ravel(), images["identity"][()].ravel()


def _read_v5_metadata(path):
    from scipy.io import loadmat

    images = loadmat(path)["celebrityImageData"][0, 0]
    names = [str(cell[0]) if cell.size else "" for cell in images["name"].ravel()]
    return names, images["age"].ravel(), images["identity"].ravel()


def read_metadata(path):
    """`(file_name, age, identity)` per `celebrityImageData` entry of a CACD `.mat` file.

    Args:
        path: `celebrity2000_meta.mat` (MATLAB v5) or `celebrity2000.mat`
            (MATLAB v7.3); the format is detected from the file.
    """
    import h5py

    read = _read_hdf5_metadata if h5py.is_hdf5(path) else _read_v5_metadata
    names, ages, identities = read(path)
    return [(name, float(age), float(identity)) for name, age, identity in zip(names, ages, identities)]


def _metadata_file(manual_dir):
    for file_name in METADATA_FILES:
        path = os.path.join(manual_dir, file_name)
        if os.path.isfile(path):
            return path
    return None


def _labelled_rows(manual_dir, image_files, result, use_mat):
    """`(file_name, age, identity, person_name)` of the images on disk, labelled by a `.mat` or their names."""
    metadata = _metadata_file(manual_dir) if use_mat else None
    if use_mat and metadata is None:
        message = (
            f"CACD2000: no {' or '.join(METADATA_FILES)} in {manual_dir!r}; ages and identities come "
            "from the file names (identities numbered by sorted names, not the .mat's)."
        )
        result.notes.append(message)
        warnings.warn(message, stacklevel=3)
    if metadata is None:
        parsed = {}
        for file_name in sorted(image_files):
            labels = parse_file_name(file_name)
            if labels is None:
                result.skip("malformed file name", file_name)
            else:
                parsed[file_name] = labels
        identities = {name: index for index, name in enumerate(sorted({name for _, name in parsed.values()}))}
        return [(file_name, age, identities[name], name) for file_name, (age, name) in parsed.items()]

    rows, listed = [], set()
    for file_name, age, identity in read_metadata(metadata):
        labels = parse_file_name(file_name)
        if file_name in listed:
            result.skip("duplicate metadata row", file_name)
        elif labels is None:
            result.skip("malformed file name", file_name)
        elif file_name not in image_files:
            result.skip("image file missing", file_name)
        else:
            rows.append((file_name, age, int(identity) if math.isfinite(identity) else -1, labels[1]))
        listed.add(file_name)
    for file_name in sorted(image_files - listed):
        result.skip("not in metadata", file_name)
    return rows


def read_records(manual_dir, use_mat=True, test_fraction=0.1):
    """Reads CACD2000's labels into `FaceRecord`s (gender unknown: CACD does not label it).

    Args:
        manual_dir: the folder holding `CACD2000/` and the `.mat` metadata.
        use_mat: take ages and identities from `celebrity2000_meta.mat` (or
            `celebrity2000.mat`) when one is there; otherwise, or when False,
            from the file names, with identities numbered by sorted names.
        test_fraction: share of people in the test split (`hash_split` by the
            person's name in the file names, so test people are unseen in
            training and the split is the same with or without the `.mat`).
    """
    check_manual_dir(manual_dir, [IMAGE_FOLDER], "CACD2000", INSTRUCTIONS)
    image_dir = os.path.join(manual_dir, IMAGE_FOLDER)
    image_files = {entry.name for entry in os.scandir(image_dir) if entry.is_file()}
    result = ReadResult()
    for file_name, age, identity, person_name in _labelled_rows(manual_dir, image_files, result, use_mat):
        if not age_in_range(age):
            result.skip("age out of range", file_name)
            continue
        result.records.append(
            FaceRecord(
                key=f"{IMAGE_FOLDER}/{file_name}",
                image_path=os.path.join(image_dir, file_name),
                split=hash_split(person_name, test_fraction),
                identity=identity,
                **exact_age(age),
            )
        )
    result.records.sort(key=lambda record: record.key)
    return result


SPEC = DatasetSpec(
    name="cacd",
    title="CACD2000 (Cross-Age Celebrity Dataset)",
    read_records=read_records,
    alignment="ffhq_aging",
    mask="landmarks",
    homepage="https://bcsiriuschen.github.io/CARC/",
    licence="For non-commercial research purposes only (see the homepage).",
    instructions=INSTRUCTIONS,
    options={"use_mat": True, "test_fraction": 0.1},
    pipeline="pipelines/ragan_cacd_256.yaml",
)


class Cacd2000(ManualFaceDataset):
    """CACD2000 aligned FFHQ-Aging style, with landmark face masks (`tfds` name "cacd2000")."""

    SPEC = SPEC
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
