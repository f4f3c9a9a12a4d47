"""The folder + CSV reader for a user's own collection, and its tfds builder."""

import math
import os

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from ragan_tf.data.datasets import get_dataset, parse_options
from ragan_tf.data.face_records import hash_split
from ragan_tf.data.folder import SPEC, FaceFolder, read_records
from ragan_tf.data.synthetic_faces import render


def write_collection(root, header, rows, csv_name="labels.csv", missing=(), faces=False, delimiter=","):
    """Writes a user's collection: images named by the CSV's first column, and the CSV.

    Args:
        root: the manual dir.
        header: the CSV's column names.
        rows: lists of cells; the first cell is the image, relative to the CSV's folder.
        csv_name: the CSV, relative to `root`.
        missing: images to leave out.
        faces: write 128 px synthetic face renders instead of tiny flat images.
        delimiter: the CSV's delimiter.
    """
    csv_path = os.path.join(root, csv_name)
    os.makedirs(os.path.dirname(csv_path), exist_ok=True)
    lines = [delimiter.join(header)] + [delimiter.join(str(cell) for cell in row) for row in rows]
    with open(csv_path, "w", encoding="utf-8-sig") as file:
        file.write("\n".join(lines) + "\n")
    for index, row in enumerate(rows):
        if row[0] in missing:
            continue
        path = os.path.join(os.path.dirname(csv_path), row[0])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        rgb = render(index, 30.0, size=128).image if faces else np.full((10, 8, 3), index * 20, np.uint8)
        Image.fromarray(rgb).save(path)


HEADER = ["file", "age", "identity", "gender", "split"]
ROWS = [
    ["bob/a.jpg", 34, "bob", "m", ""],
    ["bob/b.jpg", 36.5, "bob", "Male", ""],
    ["alice/a.png", 20, "alice", "F", "test"],
    ["alice/b.png", "", "alice", "female", "TRAIN"],
    ["carol.jpg", 70, "carol", "1", ""],
    ["dan.jpg", 5, "", "0", ""],
    ["eve.jpg", 40, "", "", ""],
    ["bad_age.jpg", "forty", "", "", ""],
    ["old.jpg", 150, "", "", ""],
    ["gender.jpg", 30, "", "x", ""],
    ["split.jpg", 30, "", "", "validation"],
    ["bob/a.jpg", 34, "bob", "m", ""],
    ["gone.jpg", 30, "", "", ""],
]
SKIPPED = {
    "unparsable age": 1,
    "age out of range": 1,
    "unparsable gender": 1,
    "unknown split": 1,
    "duplicate file": 1,
    "image file missing": 1,
}


def test_counts_labels_identities_and_skips(tmp_path):
    write_collection(tmp_path, HEADER, ROWS, missing={"gone.jpg"})

    result = read_records(str(tmp_path))

    assert dict(result.skipped) == SKIPPED
    records = {record.key: record for record in result.records}
    assert list(records) == sorted(
        ["bob/a.jpg", "bob/b.jpg", "alice/a.png", "alice/b.png", "carol.jpg", "dan.jpg", "eve.jpg"]
    )
    labels = {key: (r.age_low, r.age_high, r.identity, r.gender) for key, r in records.items()}
    assert labels == {
        "alice/a.png": (20, 20, 0, 1),
        "alice/b.png": (-1, -1, 0, 1),
        "bob/a.jpg": (34, 34, 1, 0),
        "bob/b.jpg": (36, 36, 1, 0),
        "carol.jpg": (70, 70, 2, 1),
        "dan.jpg": (5, 5, -1, 0),
        "eve.jpg": (40, 40, -1, -1),
    }
    assert records["bob/b.jpg"].age == 36.5 and math.isnan(records["alice/b.png"].age)
    assert not records["alice/b.png"].has_age
    assert records["bob/a.jpg"].image_path == os.path.join(str(tmp_path), "bob", "a.jpg")


def test_split_column_else_hash_by_person_else_by_file(tmp_path):
    write_collection(tmp_path, HEADER, ROWS, missing={"gone.jpg"})
    records = {record.key: record for record in read_records(str(tmp_path), test_fraction=0.5).records}

    assert (records["alice/a.png"].split, records["alice/b.png"].split) == ("test", "train")
    assert records["bob/a.jpg"].split == records["bob/b.jpg"].split == hash_split("bob", 0.5)
    assert records["carol.jpg"].split == hash_split("carol", 0.5)
    assert records["dan.jpg"].split == hash_split("dan.jpg", 0.5)


def test_csv_option_case_insensitive_columns_and_semicolons(tmp_path):
    rows = [["img/one.jpg", 25, "Zed"], ["img/two.jpg", 26, "Amy"]]
    write_collection(tmp_path, ["File", "AGE", "Identity"], rows, csv_name="meta/my labels.csv", delimiter=";")

    with pytest.raises(FileNotFoundError, match="lacks labels.csv"):
        read_records(str(tmp_path))
    records = read_records(str(tmp_path), csv="meta/my labels.csv").records

    assert [(r.key, r.age, r.identity, r.gender) for r in records] == [
        ("meta/img/one.jpg", 25.0, 1, -1),
        ("meta/img/two.jpg", 26.0, 0, -1),
    ]


@pytest.mark.parametrize("header, missing", [(["file", "years"], "'age'"), (["image", "age"], "'file'")])
def test_csv_without_file_or_age_column_is_a_clear_error(tmp_path, header, missing):
    write_collection(tmp_path, header, [["a.jpg", 30]])
    with pytest.raises(ValueError, match=f"no {missing} column; columns found: {', '.join(header)}"):
        read_records(str(tmp_path))


def test_missing_folder_says_what_to_put_there(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist(.|\n)*file,age"):
        read_records(str(tmp_path / "nowhere"))


def test_spec_is_registered_with_typed_options():
    assert get_dataset("folder") is SPEC
    assert (SPEC.alignment, SPEC.mask) == ("ffhq_aging", "landmarks")
    assert parse_options(SPEC, ["csv=x.csv"]) == {"csv": "x.csv", "test_fraction": 0.1}
    with pytest.raises(ValueError, match="no option 'alignment'"):
        parse_options(SPEC, ["alignment=none"])


def test_tfds_builder_keeps_images_of_unknown_age(tmp_path):
    raw = tmp_path / "raw"
    rows = [["a.png", 30, "train"], ["b.png", "", "train"], ["c.png", 50, "test"]]
    write_collection(raw, ["file", "age", "split"], rows, faces=True)

    builder = FaceFolder(data_dir=str(tmp_path / "tfds"), config="64")
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(raw)))

    assert {name: split.num_examples for name, split in builder.info.splits.items()} == {"train": 2, "test": 1}
    examples = {e["key"].decode(): e for e in tfds.as_numpy(builder.as_dataset(split="train"))}
    unknown = examples["b.png"]
    assert math.isnan(unknown["age"]) and (unknown["age_low"], unknown["age_high"]) == (-1, -1)
    assert examples["a.png"]["age"] == 30.0 and examples["a.png"]["image"].shape == (64, 64, 3)
    assert unknown["mask_source"] == 1 and unknown["face_mask"][32, 32, 0] == 255
