"""The `tf.data` input pipeline that every model family trains on.

Every source yields the common example of `ragan_tf.data.face_records`
(image, face mask, age and its labelled range, identity, gender): the
embedded synthetic dataset (its parsing maps turned into face masks with the
config's `non_face_labels`) and any real dataset prepared by
`ragan-tf prepare` (`data.data_dir` names the prepared folder). This module
turns them into training batches:

    image      float32 [B, S, S, 3] in [-1, 1]
    face_mask  float32 [B, S, S, 1] in [0, 1], 1 on the face
               (both uint8 with `data.image_dtype: uint8`: models convert
               them with `normalization.to_model_range`)
    age_group  int32 [B] under the config's age-group scheme
    age        float32 [B] years (NaN where the dataset gives only a range)
    age_low, age_high  int32 [B] the labelled range (-1 when unknown)
    identity int32 [B] (-1 unknown), gender int32 [B] (0 male, 1 female, -1)

Shapes are static and batches drop their remainder (TPUs and XLA need both).
Examples whose age group is -1 under the scheme (unknown age, or a range
straddling two groups) are left out. Reading is parallel (files
interleaved); only labels are parsed per record, and images are parsed and
decoded per batch, after filtering and shuffling; with `balance_age_groups`
every age group is drawn equally often. The pipeline
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

from ragan_tf.config import ConfigError
from ragan_tf.data.age_groups import get_scheme
from ragan_tf.data.face_mask import face_mask_lookup
from ragan_tf.data.face_records import MAX_AGE
from ragan_tf.data.normalization import to_model_range

SPLIT_ALIASES = {"validation": "test", "val": "test"}


@dataclasses.dataclass
class ExampleSource:
    """Where a config's examples come from, and how they are decoded.

    Sources hand out examples in two stages so that the expensive work
    (parsing and decoding images) happens once per *kept* example and, where
    the storage allows it, once per batch:

    - `read(split, ...)`: a dataset of light per-example dicts that carry
      the label fields (`age`, `age_low`, `age_high`, ...) and whatever the
      source needs to decode later (the serialized record, or already
      decoded images for small sources);
    - `decode_batch(batch)`: a batch of those -> uint8 `image` [B, S, S, 3],
      uint8 `face_mask` [B, S, S, 1] and the labels.

    Attributes:
        num_examples: split -> example count.
        splits: the split names.
        read: `(split, shuffle_files, seed, input_context) -> tf.data.Dataset`.
        decode_batch: see above.
        labels: split -> pandas DataFrame with `age_low` / `age_high` columns.
        description: for messages.
    """

    num_examples: typing.Callable
    splits: tuple
    read: typing.Callable
    decode_batch: typing.Callable
    labels: typing.Callable
    description: str

    def check_split(self, split):
        if split not in self.splits:
            raise ConfigError(
                f"Split {split!r} does not exist in {self.description}; choose one of {sorted(self.splits)}."
            )


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
    mask_table = tf.constant((face_mask_lookup(data_config.non_face_labels) * 255).astype(np.uint8))

    def common(example):
        years = tf.cast(tf.floor(example["age"]), tf.int32)
        return {
            "image": example["image"],
            "face_mask": tf.gather(mask_table, tf.cast(example["parsing"], tf.int32)),
            "age": example["age"],
            "age_low": years,
            "age_high": years,
            "identity": example["identity"],
            "gender": tf.cast(example["gender"], tf.int32),
        }

    def read(split, shuffle_files, seed, input_context=None):
        dataset = builder.as_dataset(split=split, shuffle_files=shuffle_files)
        if input_context is not None:
            dataset = dataset.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        return dataset.map(common, num_parallel_calls=tf.data.AUTOTUNE)

    def labels(split):
        skip = {"image": tfds.decode.SkipDecoding(), "parsing": tfds.decode.SkipDecoding()}
        ages = np.concatenate(
            [batch["age"] for batch in builder.as_dataset(split=split, decoders=skip).batch(4096).as_numpy_iterator()]
        )
        years = np.floor(ages).astype(np.int32)
        return pd.DataFrame({"age": ages, "age_low": years, "age_high": years})

    splits = builder.info.splits
    return ExampleSource(
        num_examples=lambda split: splits[split].num_examples,
        splits=tuple(splits),
        read=read,
        decode_batch=lambda batch: batch,
        labels=labels,
        description="the synthetic dataset",
    )


# Serialized layout of the common example (tfds stores int32 scalars as int64).
_LABEL_SPEC = {
    "age": tf.io.FixedLenFeature([], tf.float32),
    "age_low": tf.io.FixedLenFeature([], tf.int64),
    "age_high": tf.io.FixedLenFeature([], tf.int64),
    "identity": tf.io.FixedLenFeature([], tf.int64),
    "gender": tf.io.FixedLenFeature([], tf.int64),
    "mask_source": tf.io.FixedLenFeature([], tf.int64),
    "key": tf.io.FixedLenFeature([], tf.string),
}
_IMAGE_SPEC = {
    "image": tf.io.FixedLenFeature([], tf.string),
    "face_mask": tf.io.FixedLenFeature([], tf.string),
}


def _cast_labels(parsed):
    labels = {name: parsed[name] for name in _LABEL_SPEC}
    for name in ("age_low", "age_high", "identity", "gender"):
        labels[name] = tf.cast(labels[name], tf.int32)
    return labels


def _prepared_source(data_config):
    from ragan_tf.data.prepare import config_plan

    data_dir, plan = config_plan(data_config)
    if plan["mask"] == "parsing" and list(plan["non_face_labels"]) != list(data_config.non_face_labels):
        raise ConfigError(
            f"{data_dir} was prepared with face masks from parsing classes outside "
            f"{plan['non_face_labels']}, but data.non_face_labels is {list(data_config.non_face_labels)}; "
            "prepare again with --non-face-labels, or use the prepared setting."
        )
    info = tfds.builder_from_directory(data_dir).info
    size, raw = plan["image_size"], plan["image_format"] == "raw"
    description = f"{data_dir} ({plan['dataset']}, {size} px)"

    def decode_images(images):
        if raw:  # one decode_raw for the whole batch
            return {
                "image": tf.reshape(tf.io.decode_raw(images["image"], tf.uint8), [-1, size, size, 3]),
                "face_mask": tf.reshape(tf.io.decode_raw(images["face_mask"], tf.uint8), [-1, size, size, 1]),
            }
        return {
            "image": tf.map_fn(
                lambda data: tf.ensure_shape(tf.io.decode_image(data, 3, expand_animations=False), (size, size, 3)),
                images["image"], fn_output_signature=tf.uint8,
            ),
            "face_mask": tf.map_fn(
                lambda data: tf.ensure_shape(tf.io.decode_png(data, 1), (size, size, 1)),
                images["face_mask"], fn_output_signature=tf.uint8,
            ),
        }

    def read(split, shuffle_files, seed, input_context=None):
        files = tf.constant([os.fspath(path) for path in info.splits[split].filepaths])
        count = int(files.shape[0])
        by_file = input_context is not None and count >= input_context.num_input_pipelines
        if shuffle_files:  # a stateless permutation: `seed` may be a tensor (one per epoch), the same on every host
            order = tf.random.experimental.stateless_shuffle(
                tf.range(count), seed=tf.stack([tf.cast(0 if seed is None else seed, tf.int64), 2]))
            files = tf.gather(files, order)
        dataset = tf.data.Dataset.from_tensor_slices(files)
        if by_file:
            dataset = dataset.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        dataset = dataset.interleave(
            tf.data.TFRecordDataset,
            cycle_length=min(16, count),
            block_length=16,
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,  # the same order on every run: exact resumption
        )
        if input_context is not None and not by_file:
            dataset = dataset.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        # Only the labels are parsed here; images stay serialized until after filtering and batching.
        return dataset.map(
            lambda record: {**_cast_labels(tf.io.parse_single_example(record, _LABEL_SPEC)), "serialized": record},
            num_parallel_calls=tf.data.AUTOTUNE,
        )

    def decode_batch(batch):
        batch = dict(batch)
        images = tf.io.parse_example(batch.pop("serialized"), _IMAGE_SPEC)
        return {**batch, **decode_images(images)}

    def labels(split):
        return pd.read_csv(os.path.join(data_dir, f"labels-{split}.csv"))

    return ExampleSource(
        num_examples=lambda split: info.splits[split].num_examples,
        splits=tuple(info.splits),
        read=read,
        decode_batch=decode_batch,
        labels=labels,
        description=description,
    )


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
    """Common examples of one split, decoded (uint8 image and mask), in file order, and their count."""
    source = example_source(data_config)
    split = SPLIT_ALIASES.get(split, split)
    source.check_split(split)
    dataset = source.read(split, shuffle_files=False, seed=None).batch(1).map(source.decode_batch).unbatch()
    return dataset, source.num_examples(split)


def age_group_counts(data_config, split):
    """Examples per age group of the config's scheme in a split (from labels, no images read)."""
    source = example_source(data_config)
    split = SPLIT_ALIASES.get(split, split)
    source.check_split(split)
    return _group_counts(source, split, get_scheme(data_config.age_groups))


def _group_counts(source, split, scheme):
    labels = source.labels(split)
    return scheme.group_counts(labels["age_low"].to_numpy(), labels["age_high"].to_numpy())


def _replica_rows(batches, input_context, batch_size, slicing):
    """`(seed, index, batch)` -> `(seed, index, row offset, batch)`. When `slicing`, each batch of
    the global stream becomes one batch per replica this pipeline feeds (in replica order), the
    rows of that replica (before decoding: the other rows are never decoded here)."""
    if not slicing:
        return batches.map(lambda seed, index, batch: (seed, index, tf.constant(0, tf.int64), batch))
    local_replicas = input_context.num_replicas_in_sync // input_context.num_input_pipelines
    first = input_context.input_pipeline_id * local_replicas
    offsets = tf.constant([(first + replica) * batch_size for replica in range(local_replicas)], tf.int64)

    def split(seed, index, batch):
        return tf.data.Dataset.from_tensor_slices(offsets).map(
            lambda offset: (seed, index, offset, {key: value[offset:offset + batch_size] for key, value in batch.items()}))

    return batches.flat_map(split)


def _finish_batch(batch, batch_index, batch_size, data_config, training, seed, row_offset=0, stream_batch_size=None):
    """uint8 batch -> training batch: random flips, the configured size, and (unless
    `data.image_dtype` is uint8) [-1, 1] images and [0, 1] masks. The batch is rows
    `row_offset`... of batch `batch_index` of a stream of `stream_batch_size` (default
    `batch_size`) batches; the flips are drawn for the stream's batch, so a row is flipped or not
    whichever replica gets it."""
    size = data_config.image_size
    image, face_mask = batch["image"], batch["face_mask"]
    if training and data_config.random_flip:
        # Per example on uint8: only flipped images are copied (a batch-wide tf.where
        # copies both versions; a negative-stride slice of float images is ~10x slower).
        draws = tf.random.stateless_uniform([stream_batch_size or batch_size],
                                            seed=tf.stack([tf.cast(seed, tf.int64), batch_index]))
        flips = draws[row_offset:row_offset + batch_size] < 0.5

        def flip_one(args):
            flip, one_image, one_mask = args
            return tf.cond(
                flip, lambda: (tf.reverse(one_image, [1]), tf.reverse(one_mask, [1])), lambda: (one_image, one_mask)
            )

        image, face_mask = tf.map_fn(
            flip_one, (flips, image, face_mask), fn_output_signature=(image.dtype, face_mask.dtype)
        )
    if image.shape[1] != size or image.shape[2] != size:
        image = tf.cast(tf.round(tf.image.resize(image, (size, size), method="area", antialias=True)), tf.uint8)
        face_mask = tf.cast(tf.round(tf.image.resize(face_mask, (size, size), method="area", antialias=True)), tf.uint8)
    if data_config.image_dtype == "float32":
        image, face_mask = to_model_range(image, face_mask)
    return {
        "image": tf.ensure_shape(image, (batch_size, size, size, 3)),
        "face_mask": tf.ensure_shape(face_mask, (batch_size, size, size, 1)),
        **{
            name: tf.ensure_shape(tf.cast(batch[name], dtype), (batch_size,))
            for name, dtype in (("age_group", tf.int32), ("age", tf.float32), ("age_low", tf.int32),
                                ("age_high", tf.int32), ("identity", tf.int32), ("gender", tf.int32))
        },
    }


def make_dataset(
    data_config,
    split,
    global_batch_size,
    training,
    input_context=None,
    repeat=True,
    seed=0,
    start_epoch=0,
    steps_per_epoch=None,
):
    """Batches for one split.

    A training stream is a sequence of epochs, each a function of `(seed,
    epoch)` only: its own shuffle order, starting point in the examples,
    age-group balancing draws and flips. So the batches of epoch e are the
    same whether a run got there without a break or resumed at epoch e
    (`start_epoch`) after an interruption: exact resumption needs no saved
    iterator state.

    Args:
        data_config: a `DataConfig`.
        split: `train` or `test` (`validation` is an alias of `test`).
        global_batch_size: batch size summed over all replicas.
        training: shuffle and augment (random horizontal flip of image and
            mask together) when True; with `data_config.balance_age_groups`
            also draw every age group equally often.
        input_context: a `tf.distribute.InputContext` (from
            `distribute_datasets_from_function`), or None for one pipeline.
        repeat: repeat forever (the caller sets `steps_per_epoch`); a
            training stream without `repeat` is one shuffled pass.
        seed: shuffle and augmentation seed.
        start_epoch: training: the first epoch of the stream.
        steps_per_epoch: training: batches per epoch (default: one pass over
            the examples the scheme keeps).

    Returns:
        A `tf.data.Dataset` of batch dicts (see the module docstring).
    """
    source = example_source(data_config)
    split = SPLIT_ALIASES.get(split, split)
    source.check_split(split)
    scheme = get_scheme(data_config.age_groups)
    batch_size = global_batch_size
    if input_context is not None:
        batch_size = input_context.get_per_replica_batch_size(global_batch_size)
    # data.worker_input=global_batch: read the global stream, keep this pipeline's replicas' rows.
    slicing = input_context is not None and data_config.worker_input == "global_batch"
    read_context = None if slicing else input_context
    stream_batch = global_batch_size if slicing else batch_size

    def examples(shuffle_files=False, file_seed=None):
        dataset = source.read(split, shuffle_files=shuffle_files, seed=file_seed, input_context=read_context)
        dataset = dataset.map(lambda example: {**example, "age_group": _age_group(example, scheme)})
        return dataset.filter(lambda example: example["age_group"] >= 0)

    def finish(batches):
        return _replica_rows(batches, input_context, batch_size, slicing).map(
            lambda epoch_seed, index, offset, batch: _finish_batch(
                source.decode_batch(batch), index, batch_size, data_config, training, epoch_seed,
                row_offset=offset, stream_batch_size=stream_batch),
            num_parallel_calls=tf.data.AUTOTUNE,
        ).prefetch(tf.data.AUTOTUNE)

    if not training:
        dataset = examples()
        if data_config.cache:
            dataset = dataset.cache()
        if repeat:
            dataset = dataset.repeat()
        batches = dataset.batch(stream_batch, drop_remainder=True).enumerate()
        return finish(batches.map(lambda index, batch: (tf.constant(seed, tf.int64), index, batch)))

    group_counts = _group_counts(source, split, scheme)
    count = int(np.sum(group_counts))
    if read_context is not None:
        count = max(1, count // read_context.num_input_pipelines)
    cached = examples().cache() if data_config.cache else None
    balanced = data_config.balance_age_groups
    steps = steps_per_epoch or max(1, count // stream_batch)

    def epoch_batches(epoch):
        epoch_seed = epoch_stream_seed(seed, epoch)
        if cached is not None or not repeat:
            stream = cached if cached is not None else examples()
            if repeat or balanced:
                stream = stream.repeat()
            if repeat:  # each epoch starts at its own random place in the examples
                stream = stream.skip(tf.random.stateless_uniform([], seed=tf.stack([epoch_seed, 1]), maxval=count,
                                                                 dtype=tf.int64))
        else:  # uncached files: a fresh file order each epoch instead of a skip through them
            stream = examples(shuffle_files=True, file_seed=epoch_seed).repeat()
        if balanced:
            stream = _balanced(stream, group_counts, epoch_seed)
        stream = _block_shuffle(stream, data_config.shuffle_buffer, epoch_seed)
        batches = stream.batch(stream_batch, drop_remainder=True)
        if repeat:  # a step takes one batch per local replica from a sharded pipeline
            batches = batches.take(steps * (1 if slicing or input_context is None else
                                            input_context.num_replicas_in_sync // input_context.num_input_pipelines))
        return batches.enumerate().map(lambda index, batch: (epoch_seed, index, batch))

    if not repeat:
        return finish(epoch_batches(tf.constant(start_epoch, tf.int64)))
    return finish(tf.data.Dataset.range(start_epoch, 2**62).flat_map(epoch_batches))


def _block_shuffle(stream, block_size, seed):
    """Consecutive blocks of `block_size` examples, each permuted by a stateless draw of `(seed,
    block)`: the mixing of a shuffle buffer of that size, but a function of the seed alone (a
    `Dataset.shuffle` seeded per epoch inside the stream is not possible: its seed must be a
    Python value)."""

    def permute(index, block):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(tf.shape(block["age_group"])[0]), seed=tf.stack([seed, index]))
        return {key: tf.gather(value, order) for key, value in block.items()}

    return stream.batch(block_size).enumerate().map(permute).unbatch()


def epoch_stream_seed(seed, epoch):
    """The int64 seed of one epoch of a training stream (shuffle, start, balancing, flips)."""
    return tf.cast(seed, tf.int64) * 1_000_003 + tf.cast(epoch, tf.int64)


def _balanced(dataset, group_counts, seed):
    """Rejection sampling: keeps an example of group g with probability min_count / count_g.

    Every non-empty group then arrives equally often, in one pass over the
    (endless) stream: each record is read once and rejected ones cost only
    their label parse, never an image decode. Rare groups are repeated more
    often than common ones per pass over the data.
    """
    counts = np.asarray(group_counts, np.float64)
    if not counts.any():
        raise ConfigError("No training example falls in any age group of the scheme; nothing to balance.")
    keep = np.where(counts > 0, counts[counts > 0].min() / np.maximum(counts, 1), 0.0).astype(np.float32)
    keep_table = tf.constant(keep)

    def kept(index, example):
        draw = tf.random.stateless_uniform([], seed=tf.stack([tf.cast(seed, tf.int64) + 7919, index]))
        return draw < tf.gather(keep_table, example["age_group"])

    return dataset.enumerate().filter(kept).map(lambda index, example: example)


def count_examples(data_config, split):
    """Examples in a split (before age-group filtering)."""
    return example_source(data_config).num_examples(SPLIT_ALIASES.get(split, split))


def count_training_examples(data_config):
    """Training examples that the age-group scheme keeps (an epoch is one pass over these): under
    `two_groups`, only ages 20-30 and 40-50."""
    return int(np.sum(age_group_counts(data_config, "train")))


def distributed_dataset(strategy, data_config, split, global_batch_size, training, **kwargs):
    """`make_dataset` sharded over a strategy's input pipelines (keyword arguments: `make_dataset`'s)."""
    return strategy.distribute_datasets_from_function(
        lambda input_context: make_dataset(
            data_config, split, global_batch_size, training, input_context=input_context, **kwargs
        )
    )
