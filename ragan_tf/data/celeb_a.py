"""CelebA, read through tensorflow-datasets' own `celeb_a` builder.

tensorflow-datasets already builds CelebA (`img_align_celeba`: 218x178
aligned crops, 5 landmarks, 40 attributes, identity; splits train,
validation, test), so this module defines no builder of its own: it reads a
`celeb_a` the user has built in a tfds data dir and converts it to the
common example. That data dir is this dataset's "manual dir".

`read_records` lists the examples by position (`train/000123` is the 124th
example of tfds's `train` split, read in order) without reading them;
`load_images` reads the split in order and fills in each record's labels:
gender from the `Male` attribute, identity from `Identity_No` and the five
landmarks (image-left eye, image-right eye, nose, image-left and
image-right mouth corner: the order `five_point_landmarks` expects), from
which `prepare` draws the face mask without a face detector. CelebA has no
ages (only a "Young" attribute), so ages are unknown (-1): it serves the
unconditional DCGAN / vanilla GAN baselines. The crops are already aligned:
`prepare` takes their centred 178x178 square and resizes it.
"""

import dataclasses
import itertools
import os

import tensorflow_datasets as tfds

from ragan_tf.config import ConfigError
from ragan_tf.data.datasets import DatasetSpec
from ragan_tf.data.face_records import FaceRecord, ReadResult, check_manual_dir

TFDS_NAME = "celeb_a"
TFDS_SPLITS = ("train", "validation", "test")
LANDMARK_PARTS = ("lefteye", "righteye", "nose", "leftmouth", "rightmouth")
VALIDATION_CHOICES = ("train", "test", "skip")

INSTRUCTIONS = """
Build tensorflow-datasets' `celeb_a` into a data dir and pass that data dir
as the manual dir:

    python -c "import tensorflow_datasets as tfds; tfds.builder('celeb_a', data_dir='DATA_DIR').download_and_prepare()"

Its download from Google Drive often fails on quota. Then get the five
original files from the CelebA page (https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html,
Google Drive or Baidu): Img/img_align_celeba.zip, Eval/list_eval_partition.txt,
Anno/list_attr_celeba.txt, Anno/list_landmarks_align_celeba.txt and
Anno/identity_CelebA.txt; put the five files, with those names, flat in
DATA_DIR/downloads/manual/ and run the command above again (tfds takes
files found there instead of downloading them, and checks their checksums),
or run `tfds build celeb_a --data_dir DATA_DIR --manual_dir FOLDER_WITH_THE_FILES`.
(Kaggle's copy keeps its annotations in CSV files and lacks identity_CelebA.txt:
tfds cannot build from it.)
"""


def read_records(manual_dir, validation="train"):
    """Lists the examples of the `celeb_a` built in the tfds data dir `manual_dir`.

    Args:
        manual_dir: the tensorflow-datasets data dir holding `celeb_a`.
        validation: where CelebA's validation split goes: "train" (the
            default: the GAN baselines want all the data they can get),
            "test", or "skip".

    Returns:
        A `ReadResult` of records keyed `{tfds split}/{index:06d}`, labels
        not yet filled in (`load_images` does). Skip reason: "validation
        split skipped" (with `validation="skip"`).

    Raises:
        FileNotFoundError: no prepared `celeb_a` in `manual_dir`.
    """
    if validation not in VALIDATION_CHOICES:
        raise ConfigError(f"validation must be one of {VALIDATION_CHOICES}; got {validation!r}.")
    check_manual_dir(manual_dir, [TFDS_NAME], "celeb_a", INSTRUCTIONS)
    builder = tfds.builder(TFDS_NAME, data_dir=manual_dir)
    if not builder.is_prepared():
        found = sorted(os.listdir(os.path.join(manual_dir, TFDS_NAME)))
        raise FileNotFoundError(
            f"celeb_a: {manual_dir!r} holds no prepared celeb_a {builder.version} "
            f"(versions found: {', '.join(found) or 'none'}).\n{INSTRUCTIONS.strip()}"
        )
    our_splits = {"train": "train", "validation": validation, "test": "test"}
    result = ReadResult()
    for tfds_split in TFDS_SPLITS:
        split = our_splits[tfds_split]
        for index in range(builder.info.splits[tfds_split].num_examples):
            key = f"{tfds_split}/{index:06d}"
            if split == "skip":
                result.skip("validation split skipped", key)
            else:
                result.records.append(FaceRecord(key=key, image_path=str(builder.data_dir), split=split))
    result.records.sort(key=lambda record: record.key)
    return result


def _labelled(record, example):
    """The record with the gender, identity and landmarks of its tfds example."""
    landmarks = example["landmarks"]
    return dataclasses.replace(
        record,
        gender=0 if example["attributes"]["Male"] else 1,
        identity=int(example["identity"]["Identity_No"]),
        landmarks=tuple((float(landmarks[f"{part}_x"]), float(landmarks[f"{part}_y"])) for part in LANDMARK_PARTS),
    )


def load_images(records, manual_dir):
    """`(labelled record, rgb)` per record, reading `celeb_a` splits in order.

    Consecutive records of one tfds split are read as one slice
    (`train[a:b]` over their index range), files in order, so a shard of a
    `prepare` run reads only its part of the split.

    Args:
        records: `FaceRecord`s from `read_records`.
        manual_dir: the tfds data dir holding `celeb_a`.
    """
    for tfds_split, group in itertools.groupby(records, key=lambda record: record.key.split("/")[0]):
        wanted = {int(record.key.split("/")[1]): record for record in group}
        start, stop = min(wanted), max(wanted) + 1
        dataset = tfds.load(
            TFDS_NAME,
            split=f"{tfds_split}[{start}:{stop}]",
            data_dir=manual_dir,
            download=False,
            shuffle_files=False,
            # One file at a time: the n-th example read is the split's n-th.
            read_config=tfds.ReadConfig(interleave_cycle_length=1),
        )
        for index, example in enumerate(tfds.as_numpy(dataset), start):
            if index in wanted:
                yield _labelled(wanted[index], example), example["image"]


SPEC = DatasetSpec(
    name="celeb_a",
    title="CelebA (aligned crops)",
    read_records=read_records,
    alignment="none",
    mask="landmarks",
    homepage="https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html",
    licence="CelebA agreement: non-commercial research and educational use only",
    instructions=INSTRUCTIONS,
    options={"validation": "train"},
    load_images=load_images,
)
