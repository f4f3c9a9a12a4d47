"""FFHQ-Aging: RAGAN's training set (Or-El et al., "Lifespan Age Transformation Synthesis", ECCV 2020).

The authors' scripts write, next to `ffhq_aging_labels.csv`:

    ffhq_aging{R}x{R}/{00000,01000,...,69000}/NNNNN.png           aligned faces
    ffhq_aging{R}x{R}/{00000,01000,...,69000}/parsings/NNNNN.png  parsing maps

(R is `--resolution`, 256 by default; the parsing maps have the same size).
The labels give an age group ("0-2" ... "70-120") with a crowd-sourcing
confidence, gender with its confidence, and Face++ head pose, eye occlusion
scores (0-100 per eye) and glasses type ("None", "Normal", "Dark"); a missing
attribute is -1. The official split: images 0-68999 train, 69000-69999 test.

Pruning (on by default) keeps the images LATS trains on: age confidence above
0.6, gender confidence above 0.66, |pitch| < 30, |yaw| < 40, the less
occluded eye scoring below 50 and the other below 90, no dark glasses. LATS's
`datasets/create_dataset.py` also means to keep confident rows that have no
Face++ attributes at all, but tests `glasses == -1` on the CSV string
`"-1"`, so that clause never fires. We compare CSV values as the types they
are: numbers as floats, glasses as text. A missing Face++ attribute (-1)
passes its rule (there is no evidence against the image; -1 is inside every
pose and occlusion limit, as LATS's rules also end up treating it), while a
missing age or gender confidence (-1) fails its threshold (the label cannot
be trusted).
"""

import csv
import os
import re

import tensorflow_datasets as tfds

from ragan_tf.config import ConfigError
from ragan_tf.data.datasets import DatasetSpec
from ragan_tf.data.face_records import FaceRecord, ReadResult, check_manual_dir
from ragan_tf.data.manual_builder import ManualFaceDataset

LABELS_FILE = "ffhq_aging_labels.csv"
DEFAULT_IMAGE_DIR = "ffhq_aging256x256"
IMAGE_DIR_PATTERN = re.compile(r"ffhq_aging(\d+)x\1")
PARSING_DIR = "parsings"
FIRST_TEST_IMAGE = 69000
AGE_GROUPS = {
    "0-2": (0, 2),
    "3-6": (3, 6),
    "7-9": (7, 9),
    "10-14": (10, 14),
    "15-19": (15, 19),
    "20-29": (20, 29),
    "30-39": (30, 39),
    "40-49": (40, 49),
    "50-69": (50, 69),
    "70-120": (70, 120),
}
GENDERS = {"male": 0, "female": 1}
COLUMNS = (
    "image_number",
    "age_group",
    "age_group_confidence",
    "gender",
    "gender_confidence",
    "head_pitch",
    "head_roll",
    "head_yaw",
    "left_eye_occluded",
    "right_eye_occluded",
    "glasses",
)
TEXT_COLUMNS = ("image_number", "age_group", "gender", "glasses")
NUMERIC_COLUMNS = tuple(column for column in COLUMNS if column not in TEXT_COLUMNS)

INSTRUCTIONS = """\
FFHQ-Aging (https://github.com/royorel/FFHQ-Aging-Dataset) is built with its
authors' scripts, which download the FFHQ in-the-wild images, align them and
compute face-parsing maps (the parsing step needs a CUDA GPU and PyTorch):

    git clone https://github.com/royorel/FFHQ-Aging-Dataset
    cd FFHQ-Aging-Dataset
    pip install -r requirements.txt
    ./get_ffhq_aging.sh    # download_ffhq_aging.py, then run_deeplab.py, at 256 px

Use the cloned folder as the manual dir. It must hold:

    ffhq_aging_labels.csv
    ffhq_aging256x256/00000/00000.png ... ffhq_aging256x256/69000/69999.png
    ffhq_aging256x256/00000/parsings/00000.png ... (one parsing map per image)

Another `--resolution R` in both scripts gives `ffhq_aging{R}x{R}/`; when
several such folders exist the largest is read, unless
`--option resolution_dir=ffhq_aging{R}x{R}` picks one.
"""


def find_image_dir(manual_dir, resolution_dir=None):
    """The `ffhq_aging{R}x{R}` folder to read: `resolution_dir`, else the largest R present.

    Raises:
        FileNotFoundError: no such folder in `manual_dir`.
    """
    if resolution_dir:
        check_manual_dir(manual_dir, [resolution_dir], "FFHQ-Aging", INSTRUCTIONS)
        return resolution_dir
    found = {}
    for name in os.listdir(manual_dir):
        match = IMAGE_DIR_PATTERN.fullmatch(name)
        if match and os.path.isdir(os.path.join(manual_dir, name)):
            found[int(match.group(1))] = name
    if not found:
        check_manual_dir(manual_dir, [DEFAULT_IMAGE_DIR], "FFHQ-Aging", INSTRUCTIONS)
    return found[max(found)]


def pruning_reason(
    row,
    min_age_confidence,
    min_gender_confidence,
    max_abs_pitch,
    max_abs_yaw,
    max_eye_occlusion,
    max_worse_eye_occlusion,
):
    """The first pruning rule a labels row fails, or None when it passes them all.

    Args:
        row: the row's numeric columns as floats, plus "glasses" as text.
        min_age_confidence, min_gender_confidence: confidences must exceed these.
        max_abs_pitch, max_abs_yaw: head pose angles (degrees) must stay below these.
        max_eye_occlusion: the less occluded eye's score (0-100) must stay below this.
        max_worse_eye_occlusion: the more occluded eye's score must stay below this.
    """
    eyes = sorted((row["left_eye_occluded"], row["right_eye_occluded"]))
    rules = (
        ("low age confidence", row["age_group_confidence"] > min_age_confidence),
        ("low gender confidence", row["gender_confidence"] > min_gender_confidence),
        ("head pitch too large", abs(row["head_pitch"]) < max_abs_pitch),
        ("head yaw too large", abs(row["head_yaw"]) < max_abs_yaw),
        ("eyes occluded", eyes[0] < max_eye_occlusion and eyes[1] < max_worse_eye_occlusion),
        ("dark glasses", row["glasses"].strip().lower() != "dark"),
    )
    return next((reason for reason, passes in rules if not passes), None)


def _parse_row(row):
    """(image_number, numeric values + glasses, age_group, gender) or None when malformed."""
    try:
        image_number = int(row["image_number"])
        values = {column: float(row[column]) for column in NUMERIC_COLUMNS}
        values["glasses"] = str(row["glasses"])
    except (TypeError, ValueError):  # a short row gives None, a bad field a ValueError
        return None
    if image_number < 0:
        return None
    gender = GENDERS.get(str(row["gender"]).strip().lower(), -1)
    return image_number, values, str(row["age_group"]).strip(), gender


def read_records(
    manual_dir,
    resolution_dir=None,
    prune=True,
    min_age_confidence=0.6,
    min_gender_confidence=0.66,
    max_abs_pitch=30.0,
    max_abs_yaw=40.0,
    max_eye_occlusion=50.0,
    max_worse_eye_occlusion=90.0,
):
    """Reads FFHQ-Aging's labels CSV into records (official split, LATS pruning).

    A row is skipped as "malformed row", "duplicate row", "unknown age group",
    "image file missing", "parsing map missing" or, when `prune` is on, under
    the first pruning rule it fails (see `pruning_reason`).

    Args:
        manual_dir: the FFHQ-Aging-Dataset folder (see `INSTRUCTIONS`).
        resolution_dir: the `ffhq_aging{R}x{R}` folder to read; None takes
            the largest present.
        prune: apply LATS's label-confidence and pose rules.
        min_age_confidence, min_gender_confidence, max_abs_pitch, max_abs_yaw,
        max_eye_occlusion, max_worse_eye_occlusion: the pruning thresholds.

    Returns:
        A `ReadResult` of records sorted by key, age given as the group's range.
    """
    check_manual_dir(manual_dir, [LABELS_FILE], "FFHQ-Aging", INSTRUCTIONS)
    image_dir = find_image_dir(manual_dir, resolution_dir)
    thresholds = dict(
        min_age_confidence=min_age_confidence,
        min_gender_confidence=min_gender_confidence,
        max_abs_pitch=max_abs_pitch,
        max_abs_yaw=max_abs_yaw,
        max_eye_occlusion=max_eye_occlusion,
        max_worse_eye_occlusion=max_worse_eye_occlusion,
    )
    result = ReadResult()
    seen = set()
    with open(os.path.join(manual_dir, LABELS_FILE), newline="", encoding="utf-8-sig") as labels:
        reader = csv.DictReader(labels)
        missing = [column for column in COLUMNS if column not in (reader.fieldnames or ())]
        if missing:
            raise ConfigError(f"FFHQ-Aging: {LABELS_FILE} lacks the columns {', '.join(missing)}.")
        for line, row in enumerate(reader, start=2):
            parsed = _parse_row(row)
            if parsed is None:
                result.skip("malformed row", f"{LABELS_FILE} line {line}")
                continue
            image_number, values, age_group, gender = parsed
            name = f"{image_number:05d}.png"
            if image_number in seen:
                result.skip("duplicate row", name)
                continue
            seen.add(image_number)
            if age_group not in AGE_GROUPS:
                result.skip("unknown age group", name)
                continue
            folder = f"{image_dir}/{image_number - image_number % 1000:05d}"
            key = f"{folder}/{name}"
            image_path = os.path.join(manual_dir, key)
            parsing_path = os.path.join(manual_dir, folder, PARSING_DIR, name)
            if not os.path.isfile(image_path):
                result.skip("image file missing", key)
                continue
            if not os.path.isfile(parsing_path):
                result.skip("parsing map missing", key)
                continue
            reason = pruning_reason(values, **thresholds) if prune else None
            if reason:
                result.skip(reason, key)
                continue
            age_low, age_high = AGE_GROUPS[age_group]
            result.records.append(
                FaceRecord(
                    key=key,
                    image_path=image_path,
                    split="train" if image_number < FIRST_TEST_IMAGE else "test",
                    age_low=age_low,
                    age_high=age_high,
                    gender=gender,
                    parsing_path=parsing_path,
                )
            )
    result.records.sort(key=lambda record: record.key)
    return result


SPEC = DatasetSpec(
    name="ffhq_aging",
    title="FFHQ-Aging",
    read_records=read_records,
    alignment="none",  # already aligned with the FFHQ-Aging crop
    mask="parsing",
    homepage="https://github.com/royorel/FFHQ-Aging-Dataset",
    licence="CC BY-NC-SA 4.0 (labels and parsing maps); images under their Flickr licences",
    instructions=INSTRUCTIONS,
    options=dict(
        resolution_dir=None,
        prune=True,
        min_age_confidence=0.6,
        min_gender_confidence=0.66,
        max_abs_pitch=30.0,
        max_abs_yaw=40.0,
        max_eye_occlusion=50.0,
        max_worse_eye_occlusion=90.0,
    ),
    pipeline="pipelines/ragan_ffhq_aging_256.yaml",
)


class FfhqAging(ManualFaceDataset):
    """FFHQ-Aging in the common face example format (registered as "ffhq_aging")."""

    SPEC = SPEC
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release: official split, LATS pruning, parsing-map face masks."}
