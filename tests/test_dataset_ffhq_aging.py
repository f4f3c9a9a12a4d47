import inspect
import math

import numpy as np
import pytest
import tensorflow_datasets as tfds

from ragan_tf.data import ffhq_aging
from ragan_tf.data.datasets import get_dataset, parse_options
from ragan_tf.data.face_records import MASK_SOURCES
from fake_ffhq_aging import PARSING_BANDS, label_row, write_ffhq_aging

MISSING_ATTRIBUTES = dict(
    head_pitch=-1, head_roll=-1, head_yaw=-1, left_eye_occluded=-1, right_eye_occluded=-1, glasses=-1
)
ROWS = [
    label_row(0, "0-2", "male"),
    label_row(1, "20-29", "female"),
    label_row(1000, "70-120", "female"),
    label_row(8, "40-49", "male", **MISSING_ATTRIBUTES),
    label_row(12, "10-14", "male", left_eye_occluded=80.0, right_eye_occluded=10.0),
    label_row(69000, "30-39", "male"),
    label_row(69999, "50-69", "female"),
    label_row(2, age_group_confidence=0.6),
    label_row(3, gender_confidence=0.5),
    label_row(4, head_pitch=-35.0),
    label_row(5, head_yaw=45.0),
    label_row(6, left_eye_occluded=60.0, right_eye_occluded=55.0),
    label_row(7, "50-69", "male", glasses="Dark"),
    label_row(9),
    label_row(10),
    label_row(11, age_group=-1),
    label_row(13, "3-6", gender=-1, gender_confidence=-1),
    label_row(14, left_eye_occluded=95.0, right_eye_occluded=0.0),
    label_row(1, "30-39", "male"),
]
MALFORMED_LINES = ("abc,20-29,1.0,male,1.0,0,0,0,0,0,None", "15,20-29")
KEPT = {
    0: ("train", 0, 2, 0),
    1: ("train", 20, 29, 1),
    8: ("train", 40, 49, 0),
    12: ("train", 10, 14, 0),
    1000: ("train", 70, 120, 1),
    69000: ("test", 30, 39, 0),
    69999: ("test", 50, 69, 1),
}
PRUNED = {
    **{number: ("train", 20, 29, 1) for number in (2, 3, 4, 5, 6, 14)},
    7: ("train", 50, 69, 0),
    13: ("train", 3, 6, -1),
}


def key(number, resolution=64):
    return f"ffhq_aging{resolution}x{resolution}/{number - number % 1000:05d}/{number:05d}.png"


@pytest.fixture(scope="module")
def manual_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("ffhq_aging")
    return write_ffhq_aging(root, ROWS, without_image={9}, without_parsing={10}, raw_lines=MALFORMED_LINES)


def labels_by_number(result):
    return {int(r.key[-9:-4]): (r.split, r.age_low, r.age_high, r.gender) for r in result.records}


def test_reads_labels_official_split_and_paths(manual_dir):
    result = ffhq_aging.read_records(str(manual_dir))
    assert labels_by_number(result) == KEPT
    assert [record.key for record in result.records] == sorted(key(number) for number in KEPT)
    assert len(result.split("train")) == 5 and len(result.split("test")) == 2
    for record in result.records:
        assert math.isnan(record.age) and record.identity == -1
        assert record.image_path == str(manual_dir / record.key)
        folder, name = record.key.rsplit("/", 1)
        assert record.parsing_path == str(manual_dir / folder / "parsings" / name)


def test_every_rule_and_missing_file_is_its_own_skip_reason(manual_dir):
    result = ffhq_aging.read_records(str(manual_dir))
    assert dict(result.skipped) == {
        "malformed row": 2,
        "duplicate row": 1,
        "unknown age group": 1,
        "image file missing": 1,
        "parsing map missing": 1,
        "low age confidence": 1,
        "low gender confidence": 2,
        "head pitch too large": 1,
        "head yaw too large": 1,
        "eyes occluded": 2,
        "dark glasses": 1,
    }
    assert result.skipped_examples["dark glasses"] == [key(7)]
    assert result.skipped_examples["image file missing"] == [key(9)]
    assert result.skipped_examples["parsing map missing"] == [key(10)]
    assert sorted(result.skipped_examples["eyes occluded"]) == [key(6), key(14)]


def test_rules_compare_csv_text_with_the_right_types():
    # LATS tests `glasses == -1` on the CSV text "-1", so its rule for rows
    # without attributes never fires; here each rule sees floats or text.
    row = dict(age_group_confidence=0.9, gender_confidence=0.9, head_pitch=-1.0, head_yaw=-1.0,
               left_eye_occluded=-1.0, right_eye_occluded=-1.0, glasses="-1")
    options = {k: v for k, v in ffhq_aging.SPEC.options.items() if k not in ("resolution_dir", "prune")}
    assert ffhq_aging.pruning_reason(row, **options) is None
    assert ffhq_aging.pruning_reason({**row, "glasses": "Dark"}, **options) == "dark glasses"
    assert ffhq_aging.pruning_reason({**row, "glasses": " dark "}, **options) == "dark glasses"
    assert ffhq_aging.pruning_reason({**row, "glasses": "Normal"}, **options) is None
    assert ffhq_aging.pruning_reason({**row, "gender_confidence": -1.0}, **options) == "low gender confidence"


def test_prune_off_keeps_low_confidence_rows_and_unknown_gender(manual_dir):
    result = ffhq_aging.read_records(str(manual_dir), prune=False)
    assert labels_by_number(result) == {**KEPT, **PRUNED}
    assert set(result.skipped) == {"malformed row", "duplicate row", "unknown age group",
                                   "image file missing", "parsing map missing"}


def test_thresholds_are_options(manual_dir):
    spec = get_dataset("ffhq_aging")
    options = parse_options(spec, ["min_age_confidence=0.5", "max_abs_yaw=50", "max_eye_occlusion=70"])
    assert options["max_abs_yaw"] == 50.0 and options["prune"] is True
    kept = labels_by_number(spec.read_records(str(manual_dir), **options))
    assert set(kept) == set(KEPT) | {2, 5, 6}
    assert not parse_options(spec, ["prune=false"])["prune"]


def test_spec_options_are_the_reader_defaults():
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(ffhq_aging.read_records).parameters.items()
        if name != "manual_dir"
    }
    assert ffhq_aging.SPEC.options == defaults
    assert (ffhq_aging.SPEC.alignment, ffhq_aging.SPEC.mask) == ("none", "parsing")


def test_resolution_folder_is_detected_or_chosen(tmp_path):
    rows = [label_row(0), label_row(69500)]
    write_ffhq_aging(tmp_path, rows, resolution=32)
    assert [r.key for r in ffhq_aging.read_records(str(tmp_path)).records] == [key(0, 32), key(69500, 32)]
    write_ffhq_aging(tmp_path, rows, resolution=48)
    assert ffhq_aging.read_records(str(tmp_path)).records[0].key == key(0, 48)
    chosen = ffhq_aging.read_records(str(tmp_path), resolution_dir="ffhq_aging32x32")
    assert [r.split for r in chosen.records] == ["train", "test"] and chosen.records[0].key == key(0, 32)


def test_missing_folder_labels_or_images_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist(.|\n)*get_ffhq_aging.sh"):
        ffhq_aging.read_records(str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="lacks ffhq_aging_labels.csv"):
        ffhq_aging.read_records(str(tmp_path))
    (tmp_path / "ffhq_aging_labels.csv").write_text("image_number,age_group\n")
    with pytest.raises(FileNotFoundError, match="lacks ffhq_aging256x256"):
        ffhq_aging.read_records(str(tmp_path))
    (tmp_path / "ffhq_aging256x256").mkdir()
    with pytest.raises(ValueError, match="lacks the columns age_group_confidence, gender, "):
        ffhq_aging.read_records(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="lacks ffhq_aging128x128"):
        ffhq_aging.read_records(str(tmp_path), resolution_dir="ffhq_aging128x128")


def test_tfds_builder_end_to_end_with_parsing_masks(manual_dir, tmp_path):
    builder = ffhq_aging.FfhqAging(config="64", data_dir=str(tmp_path))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
    assert builder.info.splits["train"].num_examples == 5
    assert builder.info.splits["test"].num_examples == 2
    examples = list(builder.as_dataset(split="test").as_numpy_iterator())
    assert sorted(e["key"].decode() for e in examples) == [key(69000), key(69999)]
    bands = np.arange(64) * len(PARSING_BANDS) // 64
    row_classes = np.asarray(PARSING_BANDS)[bands]
    for example in examples:
        assert example["image"].shape == (64, 64, 3) and example["face_mask"].shape == (64, 64, 1)
        assert MASK_SOURCES[example["mask_source"]] == "parsing"
        mask_rows = example["face_mask"][:, :, 0]
        assert (mask_rows[np.isin(row_classes, (0, 18))] == 0).all()
        assert (mask_rows[np.isin(row_classes, (1, 2, 13, 17))] == 255).all()
        assert np.isnan(example["age"]) and example["identity"] == -1
    labels = {e["key"].decode(): (e["age_low"], e["age_high"], e["gender"]) for e in examples}
    assert labels == {key(69000): (30, 39, 0), key(69999): (50, 69, 1)}


class FfhqAgingBuilderTest(tfds.testing.DatasetBuilderTestCase):
    """tensorflow-datasets' own builder checks (registration, info, splits, example specs) on the fake dataset."""

    DATASET_CLASS = ffhq_aging.FfhqAging
    BUILDER_CONFIG_NAMES_TO_TEST = ["64"]
    SPLITS = {"train": 5, "test": 2}
    SKIP_CHECKSUMS = True  # nothing is downloaded
    MOCK_OUT_FORBIDDEN_OS_FUNCTIONS = False  # the reader lists the user's folder with os / open

    @classmethod
    def setUpClass(cls):
        import tempfile

        cls.EXAMPLE_DIR = write_ffhq_aging(
            tempfile.mkdtemp(prefix="ffhq_aging_dummy_"), ROWS, without_image={9}, without_parsing={10},
            raw_lines=MALFORMED_LINES,
        )
        super().setUpClass()
