import inspect

import pytest
import tensorflow_datasets as tfds

from ragan_tf.data import utkface
from ragan_tf.data.datasets import get_dataset, parse_options
from ragan_tf.data.face_records import MASK_SOURCES, hash_split

from fake_utkface import GOOD_CHIPS, MALFORMED_CHIPS, OLD_CHIPS, write_utkface

TEST_CHIPS = {"26_0_1_20170117195328001.jpg.chip.jpg", "58_1_1_20170113012341007.jpg.chip.jpg"}


@pytest.fixture(scope="module")
def manual_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("utkface")
    names = [name for name, _, _ in GOOD_CHIPS] + list(MALFORMED_CHIPS + OLD_CHIPS)
    folder = write_utkface(root, names, size=16)
    (root / "UTKFace" / "LICENSE.txt").write_text("non-commercial research purposes only\n")
    (root / "UTKFace" / f"._{GOOD_CHIPS[0][0]}").write_bytes(b"\0\5\26\7")  # a macOS tar leftover
    assert folder == str(root / "UTKFace")
    return root


def test_reads_age_and_gender_from_file_names(manual_dir):
    result = utkface.read_records(str(manual_dir))
    assert [record.key for record in result.records] == sorted(f"UTKFace/{name}" for name, _, _ in GOOD_CHIPS)
    expected = {f"UTKFace/{name}": (age, gender) for name, age, gender in GOOD_CHIPS}
    for record in result.records:
        age, gender = expected[record.key]
        assert (record.age, record.age_low, record.age_high, record.gender) == (age, age, age, gender)
        assert record.identity == -1 and record.parsing_path is None
        assert record.image_path == str(manual_dir / record.key)
    assert {r.key.split("/")[1] for r in result.split("test")} == TEST_CHIPS


def test_malformed_names_and_old_ages_are_skipped_and_counted(manual_dir):
    result = utkface.read_records(str(manual_dir))
    assert dict(result.skipped) == {"malformed file name": len(MALFORMED_CHIPS), "age out of range": 1}
    assert result.skipped_examples["age out of range"] == list(OLD_CHIPS)
    assert set(result.skipped_examples["malformed file name"]) <= set(MALFORMED_CHIPS)
    assert len(result.skipped_examples["malformed file name"]) == result.EXAMPLES_PER_REASON


@pytest.mark.parametrize(
    "name, labels",
    [
        ("25_1_0_20170116190215347.jpg.chip.jpg", (25, 1, 0)),
        ("25_1_0_20170116190215347.jpg", (25, 1, 0)),  # the in-the-wild archives
        ("39_1_20170116174525125.jpg.chip.jpg", None),  # race missing
        ("53__0_20170116184028385.jpg.chip.jpg", None),  # gender missing
        ("55_0_0_20170116232725357jpg.chip.jpg", None),  # dot missing
        ("24_0_1_20170116220224657 .jpg.chip.jpg", None),  # a space
        ("30_0_5_20170116174525127.jpg.chip.jpg", None),  # race outside 0-4
        ("25_1_0_20170116190215347.jpg.chip.png", None),
    ],
)
def test_parse_file_name(name, labels):
    assert utkface.parse_file_name(name) == labels


def test_images_in_the_manual_dir_itself_and_in_the_wild_names(tmp_path):
    names = ["25_1_0_20170116190215347.jpg", "9_0_2_20161219204347420.jpg.chip.jpg"]
    write_utkface(tmp_path, names, subfolder="", size=8)
    result = utkface.read_records(str(tmp_path))
    assert [record.key for record in result.records] == sorted(names)
    assert not result.skipped


def test_split_is_a_stable_hash_of_the_file_name_with_test_fraction_option(tmp_path):
    names = [f"{20 + i % 50}_{i % 2}_{i % 5}_2017011619{i:07d}.jpg.chip.jpg" for i in range(200)]
    write_utkface(tmp_path, names, size=4)
    spec = get_dataset("utkface")
    for fraction in (0.1, 0.5):
        options = parse_options(spec, [f"test_fraction={fraction}"])
        result = spec.read_records(str(tmp_path), **options)
        test_names = {record.key.split("/")[1] for record in result.split("test")}
        assert test_names == {name for name in names if hash_split(name, fraction) == "test"}
        assert abs(len(test_names) / len(names) - fraction) < 0.1
    assert not utkface.read_records(str(tmp_path), test_fraction=0.0).split("test")


def test_spec_options_are_the_reader_defaults():
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(utkface.read_records).parameters.items()
        if name != "manual_dir"
    }
    assert utkface.SPEC.options == defaults == {"test_fraction": 0.1}
    assert (utkface.SPEC.alignment, utkface.SPEC.mask) == ("none", "landmarks")


def test_missing_or_empty_folder_gives_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist(.|\n)*UTKFace.tar.gz"):
        utkface.read_records(str(tmp_path / "nowhere"))
    (tmp_path / "UTKFace").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no .jpg file(.|\n)*susanqq"):
        utkface.read_records(str(tmp_path))


def test_tfds_builder_end_to_end_with_landmark_masks(tmp_path):
    manual_dir = tmp_path / "raw"
    write_utkface(manual_dir, [name for name, _, _ in GOOD_CHIPS] + list(MALFORMED_CHIPS[:2]), size=128,
                  render_faces=True)
    builder = utkface.Utkface(config="64", data_dir=str(tmp_path / "tfds"))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
    assert builder.info.splits["train"].num_examples == 6
    assert builder.info.splits["test"].num_examples == 2
    examples = list(builder.as_dataset(split="test").as_numpy_iterator())
    assert {e["key"].decode() for e in examples} == {f"UTKFace/{name}" for name in TEST_CHIPS}
    for example in examples + list(builder.as_dataset(split="train").as_numpy_iterator()):
        assert example["image"].shape == (64, 64, 3) and example["face_mask"].shape == (64, 64, 1)
        assert MASK_SOURCES[example["mask_source"]] == "landmarks"
        mask = example["face_mask"][..., 0]
        assert mask[32, 32] == 255 and mask[0, 0] == 0 and mask[-1, -1] == 0
        assert example["age"] == example["age_low"] == example["age_high"]
        assert example["identity"] == -1
    labels = {e["key"].decode().split("/")[1]: (int(e["age"]), e["gender"]) for e in examples}
    assert labels == {name: (age, gender) for name, age, gender in GOOD_CHIPS if name in TEST_CHIPS}
