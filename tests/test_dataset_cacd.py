"""CACD2000 reader and tfds builder on a fake dataset in the real on-disk format."""

import os
import warnings

import h5py
import numpy as np
import pytest
import tensorflow_datasets as tfds
from fake_cacd import AGE_150, IMAGES, LISTED_MISSING, MALFORMED_ROW, STRAY, UNLISTED, file_name, write_cacd
from scipy.io import loadmat

from ragan_tf.data import cacd
from ragan_tf.data.datasets import get_dataset, parse_options

LISTED_KEYS = sorted(f"CACD2000/{file_name(*image)}" for image in IMAGES)
METADATA_SKIPS = {
    "image file missing": 1,
    "duplicate metadata row": 1,
    "malformed file name": 1,
    "not in metadata": 2,
    "age out of range": 1,
}


@pytest.fixture(scope="module")
def cacd_both(tmp_path_factory):
    return str(write_cacd(tmp_path_factory.mktemp("cacd_both"), metadata="both"))


def _labels(result):
    return {record.key: (record.age, record.identity, record.gender, record.split) for record in result.records}


def test_parse_file_name():
    assert cacd.parse_file_name("53_Robin_Williams_0001.jpg") == (53, "Robin_Williams")
    assert cacd.parse_file_name("48_Robert_Downey_Jr._0004.jpg") == (48, "Robert_Downey_Jr.")
    assert cacd.parse_file_name("35_Madonna_0009.jpg") == (35, "Madonna")
    for malformed in ("Thumbs.db", "Robin_Williams_0001.jpg", "53_Robin_Williams.jpg", "53__0001.jpg"):
        assert cacd.parse_file_name(malformed) is None


@pytest.mark.parametrize("metadata", ["v5", "v7.3"])
def test_labels_from_metadata(tmp_path, metadata):
    root = str(write_cacd(tmp_path, metadata=metadata))
    result = cacd.read_records(root)
    assert [record.key for record in result.records] == LISTED_KEYS
    by_key = {record.key: record for record in result.records}
    for age, identity, number in IMAGES:
        record = by_key[f"CACD2000/{file_name(age, identity, number)}"]
        assert (record.age, record.age_low, record.age_high) == (age, age, age)
        assert record.identity == identity  # the .mat's own ids
        assert record.gender == -1
        assert os.path.isfile(record.image_path)
    assert dict(result.skipped) == METADATA_SKIPS
    assert result.skipped_examples["image file missing"] == [file_name(*LISTED_MISSING)]
    assert result.skipped_examples["malformed file name"] == [MALFORMED_ROW]
    assert result.skipped_examples["age out of range"] == [file_name(*AGE_150)]
    assert sorted(result.skipped_examples["not in metadata"]) == [UNLISTED, STRAY]


def test_v73_metadata_is_hdf5_and_decodes_non_ascii_names(tmp_path):
    root = str(write_cacd(tmp_path, metadata="v7.3"))
    path = os.path.join(root, "celebrity2000.mat")
    assert h5py.is_hdf5(path)
    with pytest.raises(NotImplementedError, match="v7.3"):
        loadmat(path)
    rows = cacd.read_metadata(path)
    assert ("33_Zoë_Saldaña_0001.jpg", 33.0, 3.0) in rows
    assert "CACD2000/33_Zoë_Saldaña_0001.jpg" in _labels(cacd.read_records(root))


def test_both_metadata_files_agree(cacd_both):
    v5 = cacd.read_metadata(os.path.join(cacd_both, "celebrity2000_meta.mat"))
    v73 = cacd.read_metadata(os.path.join(cacd_both, "celebrity2000.mat"))
    assert v5 == v73


def test_file_name_fallback_without_metadata(tmp_path):
    root = str(write_cacd(tmp_path, metadata="none"))
    with pytest.warns(UserWarning, match="from the file names"):
        result = cacd.read_records(root)
    expected = sorted(LISTED_KEYS + [f"CACD2000/{UNLISTED}"])
    assert [record.key for record in result.records] == expected
    # identities are numbered by sorted names: Aaron_Johnson, Madonna, Robert_Downey_Jr., Zoë_Saldaña
    identities = {cacd.parse_file_name(os.path.basename(r.key))[1]: r.identity for r in result.records}
    assert identities == {"Aaron_Johnson": 0, "Madonna": 1, "Robert_Downey_Jr.": 2, "Zoë_Saldaña": 3}
    assert dict(result.skipped) == {"malformed file name": 1, "age out of range": 1}
    assert result.skipped_examples["malformed file name"] == [STRAY]
    assert len(result.notes) == 1 and "from the file names" in result.notes[0]  # shown in prepare's report


def test_use_mat_false_ignores_metadata(cacd_both):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from_names = cacd.read_records(cacd_both, use_mat=False)
    assert not from_names.notes
    assert f"CACD2000/{UNLISTED}" in _labels(from_names)
    assert "not in metadata" not in from_names.skipped


def test_split_is_by_person_and_the_same_with_or_without_metadata(cacd_both):
    from_mat = cacd.read_records(cacd_both)
    from_names = cacd.read_records(cacd_both, use_mat=False)
    assert {record.key: record.split for record in from_mat.records} == {
        record.key: record.split for record in from_names.records if record.key in _labels(from_mat)
    }
    test_people = {record.identity for record in from_mat.split("test")}
    assert test_people == {2}  # Robert_Downey_Jr. falls in the 10 % test share
    assert test_people.isdisjoint(record.identity for record in from_mat.split("train"))
    half = cacd.read_records(cacd_both, test_fraction=0.5)
    for split in ("train", "test"):
        assert half.split(split)
    assert {r.identity for r in half.split("test")}.isdisjoint(r.identity for r in half.split("train"))


def test_missing_folder_raises_with_instructions(tmp_path):
    with pytest.raises(FileNotFoundError, match="CACD2000.*bcsiriuschen"):
        cacd.read_records(str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="lacks CACD2000"):
        cacd.read_records(str(tmp_path))


def test_registry_and_options():
    spec = get_dataset("cacd")
    assert spec is cacd.SPEC
    assert (spec.alignment, spec.mask) == ("ffhq_aging", "landmarks")
    assert parse_options(spec, ["use_mat=false", "test_fraction=0.2"]) == {"use_mat": False, "test_fraction": 0.2}


def test_tfds_builder_end_to_end(cacd_both, tmp_path):
    builder = cacd.Cacd2000(config="64", data_dir=str(tmp_path / "tfds"))
    assert builder.name == "cacd2000"
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=cacd_both, try_download_gcs=False)
    )
    records = {record.key: record for record in cacd.read_records(cacd_both).records}
    mask_source = builder.info.features["mask_source"]
    seen = {}
    for split in ("train", "test"):
        for example in tfds.as_numpy(builder.as_dataset(split=split)):
            key = example["key"].decode()
            record = records[key]
            assert record.split == split
            assert example["image"].shape == (64, 64, 3) and example["image"].dtype == np.uint8
            assert example["face_mask"].shape == (64, 64, 1) and example["face_mask"].max() == 255
            assert mask_source.int2str(example["mask_source"]) == "landmarks"
            assert (example["age"], example["identity"], example["gender"]) == (record.age, record.identity, -1)
            seen[key] = split
    assert sorted(seen) == LISTED_KEYS  # every synthetic face was found and aligned
