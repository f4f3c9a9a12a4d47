"""MORPH-II reader and tfds builder, on fake releases in the real CSV layout."""

import os

import numpy as np
import pytest
import tensorflow_datasets as tfds

from ragan_tf.data.datasets import get_dataset, parse_options
from ragan_tf.data.face_records import hash_split
from ragan_tf.data.morph import SPEC, Morph2, read_records
from fake_morph import CSV_NAME, morph_row, photo_name, standard_rows, write_csv, write_morph


def test_academic_release_counts_labels_and_skips(tmp_path):
    rows, missing, skipped = standard_rows()
    write_morph(tmp_path, rows, missing=missing)

    result = read_records(str(tmp_path))

    assert len(result.records) == 12
    assert dict(result.skipped) == skipped
    assert [record.key for record in result.records] == sorted(record.key for record in result.records)
    record = next(record for record in result.records if record.key == photo_name(3, 1, "F", 36))
    assert (record.identity, record.gender, record.age, record.age_low, record.age_high) == (3, 1, 36.0, 36, 36)
    assert record.image_path == os.path.join(str(tmp_path), "Album2", "000003_01F36.JPG")
    assert {r.gender for r in result.records if r.identity == 2} == {0}
    assert result.skipped_examples["image file missing"] == [photo_name(12, 0, "F", 35)]


def test_split_is_by_person_and_stable(tmp_path):
    rows = [morph_row(id_num, picture, "M", 20 + picture) for id_num in range(1, 41) for picture in range(3)]
    write_morph(tmp_path, rows)

    records = read_records(str(tmp_path), test_fraction=0.3).records

    test_people = {record.identity for record in records if record.split == "test"}
    train_people = {record.identity for record in records if record.split == "train"}
    assert test_people and train_people and not test_people & train_people
    assert all(record.split == hash_split(record.identity, 0.3) for record in records)
    assert all(record.split == "train" for record in read_records(str(tmp_path), test_fraction=0.0).records)


def test_csv_found_in_a_subfolder_or_named_by_option(tmp_path):
    rows, missing, _ = standard_rows()
    write_morph(tmp_path, rows, csv_path=f"MORPH_nonCommercial/{CSV_NAME}", missing=missing)
    assert len(read_records(str(tmp_path)).records) == 12

    write_csv(tmp_path / "MORPH_nonCommercial" / "notes.csv", [{"id_num": "1"}], ["id_num"])
    with pytest.raises(ValueError, match="several .csv files.*notes.csv.*--option csv"):
        read_records(str(tmp_path))
    assert len(read_records(str(tmp_path), csv=f"MORPH_nonCommercial/{CSV_NAME}").records) == 12


def test_mirror_with_other_column_names_and_an_index_column(tmp_path):
    # A pandas index column without a name; an id written as a float, as pandas does for columns with gaps.
    rows = [
        {"": str(index), "ID": id_text, "Path": photo_name(float(id_text), 0, "M", age), "Age": str(age)}
        for index, (id_text, age) in enumerate([("134083", 41), ("5", 20), ("6.0", 33)])
    ]
    write_morph(tmp_path, rows, csv_path="morph_train.csv")

    records = read_records(str(tmp_path)).records

    assert [(record.identity, record.age, record.gender) for record in records] == [
        (5, 20.0, -1),
        (6, 33.0, -1),
        (134083, 41.0, -1),
    ]


def test_mirror_without_ids_reads_the_person_from_the_file_name(tmp_path):
    rows = [
        {"filepath": photo_name(3274, 0, "M", 26), "age": "26", "gender": "M"},
        {"filepath": photo_name(3274, 1, "M", 27), "age": "27", "gender": "M"},
        {"filepath": "Album2/portrait.jpg", "age": "50", "gender": "f"},
    ]
    # CSV in its own folder, photo paths relative to the manual dir.
    write_morph(tmp_path, rows, csv_path="labels/morph.csv", image_root=str(tmp_path))

    result = read_records(str(tmp_path))

    by_key = {record.key: record for record in result.records}
    assert by_key[photo_name(3274, 1, "M", 27)].identity == 3274
    portrait = by_key["Album2/portrait.jpg"]
    assert (portrait.identity, portrait.gender) == (-1, 1)
    assert portrait.split == hash_split("Album2/portrait.jpg", 0.1)


def test_csv_without_required_columns_lists_the_columns_found(tmp_path):
    write_csv(tmp_path / CSV_NAME, [{"id_num": "1", "photo": "Album2/x.JPG"}], ["id_num", "photo"])
    with pytest.raises(ValueError, match=r"no 'age' column; columns found: id_num, photo"):
        read_records(str(tmp_path))
    write_csv(tmp_path / CSV_NAME, [{"id_num": "1", "age": "30"}], ["id_num", "age"])
    with pytest.raises(ValueError, match=r"no 'photo' column; columns found: id_num, age"):
        read_records(str(tmp_path))


def test_missing_folder_or_csv_says_how_to_get_the_dataset(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist(.|\n)*ebill.uncw.edu"):
        read_records(str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="no .csv file"):
        read_records(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="lacks labels.csv"):
        read_records(str(tmp_path), csv="labels.csv")


def test_spec_is_registered_with_typed_options():
    assert get_dataset("morph") is SPEC
    assert (SPEC.alignment, SPEC.mask) == ("ffhq_aging", "landmarks")
    assert parse_options(SPEC, ["csv=morph.csv", "test_fraction=0.2"]) == {"csv": "morph.csv", "test_fraction": 0.2}


def test_tfds_builder_end_to_end(tmp_path):
    # Person 32 falls in the test split at the default test fraction, 1 and 2 in train.
    assert hash_split(32, 0.1) == "test" and hash_split(1, 0.1) == hash_split(2, 0.1) == "train"
    rows = [
        morph_row(id_num, picture, "M" if id_num != 2 else "F", 25 + 10 * picture)
        for id_num in (1, 2, 32)
        for picture in (0, 1)
    ]
    rows.append(morph_row(4, 0, "M", 200))
    raw = tmp_path / "raw"
    write_morph(raw, rows, faces=True)

    builder = Morph2(data_dir=str(tmp_path / "tfds"), config="64")
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(raw)))

    assert builder.info.splits["train"].num_examples == 4
    assert builder.info.splits["test"].num_examples == 2
    examples = list(tfds.as_numpy(builder.as_dataset(split="train")))
    example = next(e for e in examples if e["key"].decode() == photo_name(2, 1, "F", 35))
    assert example["image"].shape == (64, 64, 3) and example["face_mask"].shape == (64, 64, 1)
    assert example["mask_source"] == 1  # "landmarks"
    assert (example["age"], example["age_low"], example["identity"], example["gender"]) == (35.0, 35, 2, 1)
    assert example["face_mask"][32, 32, 0] == 255 and example["face_mask"][0, 0, 0] == 0
    assert np.ptp(example["image"]) > 50
