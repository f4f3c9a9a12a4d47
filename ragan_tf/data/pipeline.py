"""The `tf.data` input pipeline that every model family trains on.

Every source yields the common example of `ragan_tf.data.face_records`
(image, face mask, age and its labelled range, identity, gender): the
embedded synthetic dataset (its parsing maps turned into face masks with the
config's `non_face_labels`) and any real dataset prepared by
`ragan-tf prepare` (`data.data_dir` names the prepared folder). This module
turns them into training batches:

    image      float32 [B, S, S, 3] in [-1, 1]
    face_mask  float32 [B, S, S, 1] in [0, 1], 1 on the face
    age_group  int32 [B] under the config's age-group scheme
    age        float32 [B] years (NaN where the dataset gives only a range)
    age_low, age_high  int32 [B] the labelled range (-1 when unknown)
    identity int32 [B] (-1 unknown), gender int32 [B] (0 male, 1 female, -1)

Shapes are static and batches drop their remainder (TPUs and XLA need both).
Examples whose age group is -1 under the scheme (unknown age, or a range
straddling two groups) are left out. Reading is parallel (files interleaved,
decoding after the shuffle, only for examples that are kept); with
`balance_age_groups` every age group is drawn equally often. The pipeline
is sharding-aware: given a `tf.distribute.InputContext` it keeps only its
input pipeline's share (whole files where there are enough of them) and
batches per replica, so it plugs into
`strategy.distribute_datasets_from_function`, one pipeline per host.
"""

import dataclasses
import os
import typing

import numpy as np
import pandas as pd
import tensorflow as tf
import tensorflow_datasets as tfds

from ragan_tf.data.age_groups import get_scheme
from ragan_tf.data.face_mask import face_mask_lookup
from ragan_tf.data.face_records import MAX_AGE

SPLIT_ALIASES = {"validation": "test", "val": "test"}
LABELS = ("age", "age_low", "age_high", "identity", "gender")


@dataclasses.dataclass
class ExampleSource:
    """Where a config's examples come from.

    Attributes:
        builder: the tensorflow-datasets builder that reads them.
        decoders: features left encoded when reading (decoded by `decode`
            after shuffling and filtering).
        decode: undecoded example -> common example (uint8 image and mask).
        labels: split -> pandas DataFrame of the label columns.
        description: for messages.
        add_labels: completes the label fields of an undecoded example
            (`age_low` / `age_high` from an exact `age`), or None.
    """

    builder: typing.Any
    decoders: dict
    decode: typing.Callable
    labels: typing.Callable
    description: str
    add_labels: typing.Optional[typing.Callable] = None

    def check_split(self, split):
        if split not in self.builder.info.splits:
            raise ValueError(
                f"Split {split!r} does not exist in {self.description}; choose one of "
                f"{sorted(self.builder.info.splits)}."
            )

    def num_examples(self, split):
        self.check_split(split)
        return self.builder.info.splits[split].num_examples

    def read(self, split, shuffle_files, seed, input_context=None):
        self.check_split(split)
        num_shards = self.builder.info.splits[split].num_shards
        by_file = input_context is not None and num_shards >= input_context.num_input_pipelines
        read_config = tfds.ReadConfig(
            input_context=input_context if by_file else None,
            shuffle_seed=seed,
            interleave_cycle_length=min(16, num_shards),
            num_parallel_calls_for_interleave_files=tf.data.AUTOTUNE,
        )
        dataset = self.builder.as_dataset(
            split=split, shuffle_files=shuffle_files, decoders=self.decoders, read_config=read_config
        )
        if input_context is not None and not by_file:
            dataset = dataset.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        if self.add_labels is not None:
            dataset = dataset.map(self.add_labels)
        return dataset


def _synthetic_source(data_config):
    from ragan_tf.data.synthetic_aging_faces import synthetic_builder

    builder = synthetic_builder(
        data_dir=data_config.data_dir,
        image_size=data_config.image_size,
        num_identities=data_config.synthetic_identities,
        images_per_identity=data_config.synthetic_images_per_identity,
        test_fraction=data_config.synthetic_test_fraction,
        seed=data_config.synthetic_seed,
    )
    builder.download_and_prepare()
    features = builder.info.features
    mask_table = tf.constant((face_mask_lookup(data_config.non_face_labels) * 255).astype(np.uint8))

    def add_labels(example):
        years = tf.cast(tf.floor(example["age"]), tf.int32)
        return {**example, "age_low": years, "age_high": years, "gender": tf.cast(example["gender"], tf.int32)}

    def decode(example):
        decoded = {name: example[name] for name in LABELS}
        decoded["image"] = features["image"].decode_example(example["image"])
        parsing = tf.cast(features["parsing"].decode_example(example["parsing"]), tf.int32)
        decoded["face_mask"] = tf.gather(mask_table, parsing)
        return decoded

    def labels(split):
        ages = np.concatenate(
            [batch["age"] for batch in builder.as_dataset(split=split, decoders=skip).batch(4096).as_numpy_iterator()]
        )
        years = np.floor(ages).astype(np.int32)
        return pd.DataFrame({"age": ages, "age_low": years, "age_high": years})

    skip = {"image": tfds.decode.SkipDecoding(), "parsing": tfds.decode.SkipDecoding()}
    return ExampleSource(builder, skip, decode, labels, "the synthetic dataset", add_labels)


def _prepared_source(data_config):
    from ragan_tf.data.prepare import read_plan

    if not data_config.data_dir:
        raise ValueError(
            f"data.dataset is {data_config.dataset!r}: set data.data_dir to the folder that "
            f"`ragan-tf prepare {data_config.dataset} --manual-dir RAW --out DIR` wrote."
        )
    data_dir = os.path.expanduser(data_config.data_dir)
    plan = read_plan(data_dir)
    if plan["dataset"] != data_config.dataset:
        raise ValueError(
            f"{data_dir} holds {plan['dataset']!r}, but data.dataset is {data_config.dataset!r}; "
            "point data.data_dir at the right prepared folder or change data.dataset."
        )
    if plan["mask"] == "parsing" and list(plan["non_face_labels"]) != list(data_config.non_face_labels):
        raise ValueError(
            f"{data_dir} was prepared with face masks from parsing classes outside "
            f"{plan['non_face_labels']}, but data.non_face_labels is {list(data_config.non_face_labels)}; "
            "prepare again with --non-face-labels, or use the prepared setting."
        )
    builder = tfds.builder_from_directory(data_dir)
    features = builder.info.features

    def decode(example):
        decoded = {name: example[name] for name in LABELS + ("key", "mask_source")}
        decoded["image"] = features["image"].decode_example(example["image"])
        decoded["face_mask"] = features["face_mask"].decode_example(example["face_mask"])
        return decoded

    def labels(split):
        return pd.read_csv(os.path.join(data_dir, f"labels-{split}.csv"))

    skip = {"image": tfds.decode.SkipDecoding(), "face_mask": tfds.decode.SkipDecoding()}
    return ExampleSource(builder, skip, decode, labels, f"{data_dir} ({plan['dataset']}, {plan['image_size']} px)")


def example_source(data_config):
    """The `ExampleSource` for a `DataConfig`."""
    if data_config.dataset == "synthetic":
        return _synthetic_source(data_config)
    from ragan_tf.data.datasets import get_dataset

    get_dataset(data_config.dataset)  # unknown names: a clear error listing the datasets
    return _prepared_source(data_config)


def _age_group(example, scheme):
    table = tf.constant(scheme.lookup_table(MAX_AGE), tf.int32)
    low, high = example["age_low"], example["age_high"]
    group_low = tf.gather(table, tf.clip_by_value(low, 0, MAX_AGE))
    group_high = tf.gather(table, tf.clip_by_value(high, 0, MAX_AGE))
    group = tf.where(group_low == group_high, group_low, -1)
    return tf.where(low < 0, tf.constant(scheme.unknown_age_group, tf.int32), group)


def load_examples(data_config, split):
    """Decoded common examples of one split (uint8 image and mask) and their count."""
    source = example_source(data_config)
    split = SPLIT_ALIASES.get(split, split)
    dataset = source.read(split, shuffle_files=False, seed=None).map(source.decode, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset, source.num_examples(split)


def age_group_counts(data_config, split):
    """Examples per age group of the config's scheme in a split (from labels, no images read)."""
    source = example_source(data_config)
    labels = source.labels(SPLIT_ALIASES.get(split, split))
    groups = get_scheme(data_config.age_groups).group_of_range(labels["age_low"].to_numpy(), labels["age_high"].to_numpy())
    return np.bincount(groups[groups >= 0], minlength=data_config.num_age_groups)


def _preprocess(example, index, data_config, training, seed):
    size = data_config.image_size
    image = tf.cast(example["image"], tf.float32) / 127.5 - 1.0
    face_mask = tf.cast(example["face_mask"], tf.float32) / 255.0
    if image.shape[0] != size or image.shape[1] != size:
        image = tf.image.resize(image, (size, size), method="area", antialias=True)
        face_mask = tf.image.resize(face_mask, (size, size), method="area", antialias=True)
    if training and data_config.random_flip:
        flip = tf.random.stateless_uniform([], seed=tf.stack([tf.cast(seed, tf.int64), index])) < 0.5
        image = tf.where(flip, image[:, ::-1], image)
        face_mask = tf.where(flip, face_mask[:, ::-1], face_mask)
    return {
        "image": tf.ensure_shape(image, (size, size, 3)),
        "face_mask": tf.ensure_shape(face_mask, (size, size, 1)),
        "age_group": example["age_group"],
        "age": tf.cast(example["age"], tf.float32),
        "age_low": tf.cast(example["age_low"], tf.int32),
        "age_high": tf.cast(example["age_high"], tf.int32),
        "identity": tf.cast(example["identity"], tf.int32),
        "gender": tf.cast(example["gender"], tf.int32),
    }


def _with_age_group(dataset, scheme):
    return dataset.map(lambda example: {**example, "age_group": _age_group(example, scheme)}).filter(
        lambda example: example["age_group"] >= 0
    )


def make_dataset(
    data_config,
    split,
    global_batch_size,
    training,
    input_context=None,
    repeat=True,
    seed=0,
):
    """Batches for one split.

    Args:
        data_config: a `DataConfig`.
        split: `train` or `test` (`validation` is an alias of `test`).
        global_batch_size: batch size summed over all replicas.
        training: shuffle and augment (random horizontal flip of image and
            mask together) when True; with `data_config.balance_age_groups`
            also draw every age group equally often.
        input_context: a `tf.distribute.InputContext` (from
            `distribute_datasets_from_function`), or None for one pipeline.
        repeat: repeat forever (the caller sets `steps_per_epoch`).
        seed: shuffle and augmentation seed.

    Returns:
        A `tf.data.Dataset` of batch dicts (see the module docstring).
    """
    source = example_source(data_config)
    split = SPLIT_ALIASES.get(split, split)
    scheme = get_scheme(data_config.age_groups)
    batch_size = global_batch_size
    if input_context is not None:
        batch_size = input_context.get_per_replica_batch_size(global_batch_size)
    dataset = _with_age_group(source.read(split, shuffle_files=training, seed=seed, input_context=input_context), scheme)
    if data_config.cache:
        dataset = dataset.cache()
    if training and data_config.balance_age_groups:
        dataset = _balanced(dataset, age_group_counts(data_config, split), data_config.shuffle_buffer, seed)
    else:
        if training:
            dataset = dataset.shuffle(data_config.shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        if repeat:
            dataset = dataset.repeat()
    dataset = dataset.enumerate().map(
        lambda index, example: _preprocess(
            {**source.decode(example), "age_group": example["age_group"]}, index, data_config, training, seed
        ),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=not training,
    )
    dataset = dataset.batch(batch_size, drop_remainder=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _balanced(dataset, group_counts, shuffle_buffer, seed):
    """Every non-empty age group drawn with equal probability (endless).

    Each group is its own filtered, shuffled, repeated stream of the still
    encoded examples; the streams are mixed with equal weights. Rare groups
    are thus repeated more often within an epoch than common ones.
    """
    groups = [group for group, count in enumerate(group_counts) if count > 0]
    if not groups:
        raise ValueError("No training example falls in any age group of the scheme; nothing to balance.")
    streams = [
        dataset.filter(lambda example, group=group: example["age_group"] == group)
        .shuffle(max(1, min(shuffle_buffer, int(group_counts[group]))), seed=seed + group, reshuffle_each_iteration=True)
        .repeat()
        for group in groups
    ]
    return tf.data.Dataset.sample_from_datasets(streams, weights=[1.0 / len(groups)] * len(groups), seed=seed)


def count_examples(data_config, split):
    """Examples in a split (before age-group filtering)."""
    return example_source(data_config).num_examples(SPLIT_ALIASES.get(split, split))


def distributed_dataset(strategy, data_config, split, global_batch_size, training, seed=0):
    """`make_dataset` sharded over a strategy's input pipelines."""
    return strategy.distribute_datasets_from_function(
        lambda input_context: make_dataset(
            data_config, split, global_batch_size, training, input_context=input_context, seed=seed
        )
    )
