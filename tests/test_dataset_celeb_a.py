"""CelebA through tensorflow-datasets' `celeb_a`: records, ordered loading, conversion.

Two kinds of fake CelebA: tfds's own `celeb_a` builder run on fake copies of
the five original files (same names and text formats; only the download is
replaced), and `tfds.testing.mock_data`.
"""

import functools
import io
import math
import zipfile
from unittest import mock

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image
from tensorflow_datasets.datasets.celeb_a import celeb_a_dataset_builder as tfds_celeb_a

from ragan_tf.data.celeb_a import SPEC, load_images, read_records
from ragan_tf.data.datasets import get_dataset
from ragan_tf.data.face_preparation import FacePreparer
from ragan_tf.data.face_records import FaceRecord
from ragan_tf.data.synthetic_faces import render

# Image number -> 0 train, 1 validation, 2 test. Written in 2 shards of 20 train examples: more
# than tfds's default interleave block (16), so reading shards interleaved would change the order.
PARTITIONS = {number: 0 if number <= 40 else 1 if number <= 42 else 2 for number in range(1, 46)}
MARGIN = 20  # img_align_celeba is 218 x 178: a 178 px render with 20 rows above and below


@functools.lru_cache(maxsize=None)
def celeb_image(number):
    """(rgb [218, 178, 3], integer landmarks [5, 2]) of fake image `number`."""
    face = render(number, 20.0 + number % 50, size=178)
    rgb = np.pad(face.image, ((MARGIN, MARGIN), (0, 0), (0, 0)), mode="edge")
    return rgb, np.round(face.landmarks + [0, MARGIN]).astype(int)


def write_celeb_a_files(folder):
    """The five original CelebA files for `PARTITIONS`: name -> path.

    Identity_No is 100 + the image number; odd numbers are Male.
    """
    names = [f"{number:06d}.jpg" for number in PARTITIONS]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zip_file:
        for number, name in zip(PARTITIONS, names):
            buffer = io.BytesIO()
            Image.fromarray(celeb_image(number)[0]).save(buffer, format="JPEG", quality=95)
            zip_file.writestr(f"img_align_celeba/{name}", buffer.getvalue())
    (folder / "img_align_celeba.zip").write_bytes(archive.getvalue())

    def attributes(number):
        return [("1" if (name == "Male") == (number % 2 == 1) else "-1") for name in tfds_celeb_a.ATTR_HEADINGS]

    def landmark_cells(number):
        return [str(value) for value in celeb_image(number)[1].ravel()]

    texts = {
        "list_eval_partition": [f"{name} {PARTITIONS[number]}" for number, name in zip(PARTITIONS, names)],
        "list_attr_celeba": [str(len(names)), " ".join(tfds_celeb_a.ATTR_HEADINGS)]
        + [f"{name} {' '.join(attributes(number))}" for number, name in zip(PARTITIONS, names)],
        "list_landmarks_align_celeba": [str(len(names)), " ".join(tfds_celeb_a.LANDMARK_HEADINGS)]
        + [f"{name} {' '.join(landmark_cells(number))}" for number, name in zip(PARTITIONS, names)],
        "identity_CelebA": [f"{name} {100 + number}" for number, name in zip(PARTITIONS, names)],
    }
    for name, lines in texts.items():
        (folder / f"{name}.txt").write_text("\n".join(lines) + "\n")
    return {
        "img_align_celeba": folder / "img_align_celeba.zip",
        "list_eval_partition": folder / "list_eval_partition.txt",
        "list_attr_celeba": folder / "list_attr_celeba.txt",
        "landmarks_celeba": folder / "list_landmarks_align_celeba.txt",
        "identity_celeba": folder / "identity_CelebA.txt",
    }


@pytest.fixture(scope="module")
def celeb_a_dir(tmp_path_factory):
    """A tfds data dir holding `celeb_a` built by tfds from fake original files."""
    files = write_celeb_a_files(tmp_path_factory.mktemp("celeb_a_files"))
    data_dir = tmp_path_factory.mktemp("tfds")
    fake_download = lambda self, urls: {key: str(files[key]) for key in urls}  # noqa: E731
    with mock.patch.object(tfds.download.DownloadManager, "download", fake_download):
        tfds.builder("celeb_a", data_dir=str(data_dir)).download_and_prepare(
            download_config=tfds.download.DownloadConfig(num_shards=2)
        )
    return str(data_dir)


def image_number(identity):
    return identity - 100


def test_records_cover_the_tfds_splits(celeb_a_dir):
    result = read_records(celeb_a_dir)

    keys = [f"test/{i:06d}" for i in range(3)] + [f"train/{i:06d}" for i in range(40)]
    assert [record.key for record in result.records] == keys + ["validation/000000", "validation/000001"]
    assert [record.split for record in result.records] == ["test"] * 3 + ["train"] * 42
    record = result.records[0]
    assert (record.identity, record.gender, record.has_age, record.landmarks) == (-1, -1, False, None)
    assert sum(r.split == "test" for r in read_records(celeb_a_dir, validation="test").records) == 5
    skipped = read_records(celeb_a_dir, validation="skip")
    assert len(skipped.records) == 43 and dict(skipped.skipped) == {"validation split skipped": 2}
    with pytest.raises(ValueError, match="validation must be one of"):
        read_records(celeb_a_dir, validation="val")


def test_load_images_labels_each_image_with_its_own_annotations(celeb_a_dir):
    records = read_records(celeb_a_dir).records

    loaded = list(load_images(records, celeb_a_dir))

    assert [record.key for record, _ in loaded] == [record.key for record in records]
    numbers = set()
    for record, rgb in loaded:
        number = image_number(record.identity)
        numbers.add(number)
        expected_rgb, expected_landmarks = celeb_image(number)
        assert rgb.shape == (218, 178, 3) and np.abs(rgb.astype(float) - expected_rgb).mean() < 4
        assert record.gender == (0 if number % 2 else 1)
        np.testing.assert_array_equal(record.landmarks, expected_landmarks)
        assert {0: "train", 1: "validation", 2: "test"}[PARTITIONS[number]] == record.key.split("/")[0]
        assert math.isnan(record.age) and record.age_low == record.age_high == -1
    assert numbers == set(PARTITIONS)


def test_a_slice_of_records_reads_the_same_examples(celeb_a_dir):
    records = read_records(celeb_a_dir).records
    full = {record.key: record.identity for record, _ in load_images(records, celeb_a_dir)}

    part = [record for record in records if "train/000015" <= record.key <= "train/000024"]
    loaded = list(load_images(part, celeb_a_dir))

    assert [record.key for record, _ in loaded] == [record.key for record in part]
    assert [record.identity for record, _ in loaded] == [full[record.key] for record in part]


def test_conversion_to_the_common_example(celeb_a_dir):
    preparer = FacePreparer(64, alignment=SPEC.alignment, mask=SPEC.mask)
    records = read_records(celeb_a_dir).records[:3]

    for record, rgb in load_images(records, celeb_a_dir):
        example, reason = preparer(record, rgb)
        assert reason is None
        assert example["image"].shape == (64, 64, 3) and example["face_mask"].shape == (64, 64, 1)
        assert example["mask_source"] == "landmarks"
        # The nose tip, in the 178 px centre square resized to 64 px, is inside the mask.
        nose_x, nose_y = (np.asarray(record.landmarks[2]) - [0, MARGIN]) * 64 / 178
        assert example["face_mask"][int(nose_y), int(nose_x), 0] == 255
        assert example["face_mask"][0, 0, 0] == 0
        assert (example["identity"], example["gender"]) == (record.identity, record.gender)
        assert example["age_low"] == -1 and math.isnan(example["age"])


def test_conversion_of_mocked_celeb_a():
    records = [FaceRecord(key=f"train/{index:06d}", image_path="", split="train") for index in range(3)]
    with tfds.testing.mock_data(num_examples=3, policy=tfds.testing.MockPolicy.USE_CODE):
        expected = list(tfds.as_numpy(tfds.load("celeb_a", split="train", download=False)))
        loaded = list(load_images(records, "/no/data/dir"))

    assert [record.key for record, _ in loaded] == [record.key for record in records]
    for (record, rgb), example in zip(loaded, expected):
        np.testing.assert_array_equal(rgb, example["image"])
        assert record.identity == example["identity"]["Identity_No"]
        assert record.gender == (0 if example["attributes"]["Male"] else 1)
        landmarks = example["landmarks"]
        assert record.landmarks[3] == (landmarks["leftmouth_x"], landmarks["leftmouth_y"])


def test_missing_or_unprepared_data_dir_says_how_to_build_celeb_a(tmp_path):
    assert get_dataset("celeb_a") is SPEC and SPEC.load_images is load_images
    with pytest.raises(FileNotFoundError, match="does not exist(.|\n)*downloads/manual"):
        read_records(str(tmp_path / "nowhere"))
    (tmp_path / "celeb_a" / "2.0.1").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"no prepared celeb_a 2.1.0 \(versions found: 2.0.1\)"):
        read_records(str(tmp_path))
