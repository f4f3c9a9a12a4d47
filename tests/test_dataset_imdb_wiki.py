"""IMDB-WIKI reader and tfds builder on a fake dataset in the real `.mat` layout."""

import collections
import dataclasses
import datetime
import math

import numpy as np
import pytest
import tensorflow_datasets as tfds
from fake_imdb_wiki import ROWS, face_image, write_imdb_wiki
from scipy.io import loadmat

from ragan_tf.data import imdb_wiki
from ragan_tf.data.datasets import get_dataset, parse_options
from ragan_tf.data.face_preparation import FacePreparer
from ragan_tf.data.face_records import hash_split

WIKI_IDS = {"Alan Turing": 100_000, "Katherine Johnson": 100_001, "Zed Person": 100_002}


@pytest.fixture(scope="module")
def imdb_wiki_root(tmp_path_factory):
    return str(write_imdb_wiki(tmp_path_factory.mktemp("imdb_wiki")))


def _expected(dbs=("imdb", "wiki"), kept=("record",)):
    """key -> fixture row of the rows whose verdict is in `kept`."""
    return {f"{db}_crop/{row.full_path(db)}": row for db in dbs for row in ROWS[db] if row.expect in kept}


def _without_paths(result):
    return [dataclasses.replace(record, image_path="") for record in result.records]


def _skip_counts(dbs=("imdb", "wiki")):
    return collections.Counter(row.expect for db in dbs for row in ROWS[db] if row.expect != "record")


def test_fixture_reads_like_the_real_files(imdb_wiki_root):
    meta = loadmat(f"{imdb_wiki_root}/imdb_crop/imdb.mat")
    full_path = meta["imdb"][0, 0]["full_path"][0]
    assert full_path.shape == (len(ROWS["imdb"]),) and full_path[0][0] == ROWS["imdb"][0].full_path("imdb")
    assert meta["imdb"][0, 0]["face_location"][0][0].shape == (1, 4)
    wiki = loadmat(f"{imdb_wiki_root}/wiki_crop/wiki.mat")["wiki"][0, 0]
    assert "celeb_id" not in wiki.dtype.names
    assert np.isneginf(meta["imdb"][0, 0]["face_score"][0]).any()


@pytest.mark.parametrize(
    "birth, photo_taken, age",
    [
        (datetime.date(1980, 3, 10), 2010, 30),
        (datetime.date(1980, 6, 30), 2010, 30),
        (datetime.date(1980, 7, 1), 2010, 29),  # born after 1 July: not yet 30 in mid 2010
        (datetime.date(1899, 5, 10), 1968, 69),
    ],
)
def test_age_at_photo_assumes_1_july(birth, photo_taken, age):
    assert imdb_wiki.age_at_photo(birth.toordinal() + 366, photo_taken) == age


@pytest.mark.parametrize("dob", [0.0, 366.0, math.nan, math.inf, -5.0, 1e12])
def test_age_at_photo_of_corrupt_dob_is_none(dob):
    assert imdb_wiki.age_at_photo(dob, 2000) is None


def test_clean_records_labels_and_skips(imdb_wiki_root):
    result = imdb_wiki.read_records(imdb_wiki_root)
    expected = _expected()
    assert [record.key for record in result.records] == sorted(expected)
    assert result.skipped == _skip_counts()
    for record in result.records:
        row = expected[record.key]
        assert record.age == row.age and record.age_low == record.age_high == row.age
        assert record.gender == {1.0: 0, 0.0: 1}[row.gender]  # IMDB-WIKI's 1 male / 0 female, flipped
        if record.key.startswith("imdb_crop/"):
            assert record.identity == row.celeb_id
        else:
            assert record.identity == WIKI_IDS.get(row.name, -1)
        assert record.split == hash_split(row.name or record.key, 0.1)


def test_face_location_becomes_a_zero_based_face_box(imdb_wiki_root):
    records = {record.key: record for record in imdb_wiki.read_records(imdb_wiki_root, clean=False).records}
    assert records["imdb_crop/01/nm0001001_rm20100001_1980-3-10_2010.jpg"].face_box == (32.0, 28.0, 96.0, 92.0)
    no_face = [row for row in ROWS["imdb"] if row.face_score == -math.inf][0]
    assert records[f"imdb_crop/{no_face.full_path('imdb')}"].face_box is None


def test_face_box_picks_the_labelled_of_two_faces(imdb_wiki_root):
    row = [row for row in ROWS["imdb"] if row.two_faces][0]
    record = {r.key: r for r in imdb_wiki.read_records(imdb_wiki_root).records}[f"imdb_crop/{row.full_path('imdb')}"]
    rgb = face_image(row)
    preparer = FacePreparer(64, alignment="ffhq_aging", mask="landmarks")
    example, reason = preparer(record, rgb)
    assert reason is None
    assert preparer(dataclasses.replace(record, face_box=None), rgb) == (None, "several faces")
    right_alone, _ = preparer(dataclasses.replace(record, face_box=None), np.ascontiguousarray(rgb[:, 128:]))
    assert np.abs(example["image"].astype(int) - right_alone["image"]).mean() < 8


def test_without_cleaning_only_unusable_ages_are_skipped(imdb_wiki_root):
    result = imdb_wiki.read_records(imdb_wiki_root, clean=False)
    assert dict(result.skipped) == {
        "invalid date of birth or photo year": 2,
        "age out of range": 1,  # born after the photo; 120 is kept
        "image file missing": 1,
    }
    genders = collections.Counter(record.gender for record in result.records)
    assert genders[-1] == 1
    assert max(record.age for record in result.records) == 120


def test_min_face_score_option(imdb_wiki_root):
    strict = imdb_wiki.read_records(imdb_wiki_root, min_face_score=4.0)
    assert not strict.records
    loose = imdb_wiki.read_records(imdb_wiki_root, min_face_score=0.5)
    assert len(loose.records) == len(_expected()) + 2  # the 0.5 and 0.9 scores now pass
    assert "low face score" not in loose.skipped


def test_subsets_and_unique_keys(imdb_wiki_root, tmp_path):
    imdb = imdb_wiki.read_records(imdb_wiki_root, subset="imdb")
    wiki = imdb_wiki.read_records(imdb_wiki_root, subset="wiki")
    both = imdb_wiki.read_records(imdb_wiki_root, subset="both")
    assert [record.key for record in imdb.records] == sorted(_expected(["imdb"]))
    assert [record.key for record in wiki.records] == sorted(_expected(["wiki"]))
    assert sorted(imdb.records + wiki.records, key=lambda record: record.key) == both.records
    assert len({record.key for record in both.records}) == len(both.records)
    assert {r.identity for r in imdb.records}.isdisjoint(r.identity for r in wiki.records if r.identity >= 0)
    only_wiki = str(write_imdb_wiki(tmp_path, subsets=["wiki"]))
    assert _without_paths(imdb_wiki.read_records(only_wiki, subset="wiki")) == _without_paths(wiki)
    with pytest.raises(FileNotFoundError, match="(?s)lacks imdb_crop/imdb.mat.*data.vision.ee.ethz.ch"):
        imdb_wiki.read_records(only_wiki)
    with pytest.raises(ValueError, match="subset"):
        imdb_wiki.read_records(imdb_wiki_root, subset="celebs")


def test_split_is_by_person_across_imdb_and_wiki(imdb_wiki_root):
    result = imdb_wiki.read_records(imdb_wiki_root, test_fraction=0.1)
    test_keys = {record.key for record in result.split("test")}
    # Katherine Johnson falls in the 10 % test share, in IMDb and in WIKI alike
    assert test_keys == {key for key, row in _expected().items() if row.name == "Katherine Johnson"}
    half = imdb_wiki.read_records(imdb_wiki_root, test_fraction=0.5)
    assert {r.identity for r in half.split("test")}.isdisjoint(r.identity for r in half.split("train"))


def test_missing_folder_raises_with_instructions(tmp_path):
    with pytest.raises(FileNotFoundError, match="(?s)does not exist.*imdb_crop.tar"):
        imdb_wiki.read_records(str(tmp_path / "nowhere"))


def test_registry_and_options():
    spec = get_dataset("imdb_wiki")
    assert spec is imdb_wiki.SPEC
    assert (spec.alignment, spec.mask) == ("ffhq_aging", "landmarks")
    options = parse_options(spec, ["subset=wiki", "clean=false", "min_face_score=2"])
    assert options == {"subset": "wiki", "clean": False, "min_face_score": 2.0, "test_fraction": 0.1}


def test_tfds_builder_end_to_end(imdb_wiki_root, tmp_path):
    builder = imdb_wiki.ImdbWiki(config="64", data_dir=str(tmp_path / "tfds"))
    assert builder.name == "imdb_wiki"
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=imdb_wiki_root, try_download_gcs=False)
    )
    records = {record.key: record for record in imdb_wiki.read_records(imdb_wiki_root).records}
    mask_source = builder.info.features["mask_source"]
    seen = set()
    for split in ("train", "test"):
        for example in tfds.as_numpy(builder.as_dataset(split=split)):
            record = records[example["key"].decode()]
            assert record.split == split
            assert example["image"].shape == (64, 64, 3) and example["image"].dtype == np.uint8
            assert example["face_mask"].shape == (64, 64, 1) and example["face_mask"].max() == 255
            assert mask_source.int2str(example["mask_source"]) == "landmarks"
            assert (example["age"], example["identity"], example["gender"]) == (
                record.age,
                record.identity,
                record.gender,
            )
            seen.add(record.key)
    assert seen == set(records)  # every face was aligned, the two-face photo by its face_box
