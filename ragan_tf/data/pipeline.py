"""The `tf.data` input pipeline that every model family trains on.

Every dataset reader yields raw examples `{image uint8 [H, W, 3], parsing
uint8 [H, W, 1], age float32, identity int32, gender int32}`; this module
turns them into training batches:

    image      float32 [B, S, S, 3] in [-1, 1]
    face_mask  float32 [B, S, S, 1], 1 on the face (parsing classes not in
               `non_face_labels`), 0 elsewhere
    age_group  int32 [B] under the config's age-group scheme
    age        float32 [B] years, identity int32 [B], gender int32 [B]

Shapes are static and batches drop their remainder (TPUs and XLA need both).
The pipeline is sharding-aware: given a `tf.distribute.InputContext` it keeps
only its input pipeline's shard and batches per replica, so it plugs into
`strategy.distribute_datasets_from_function`.
"""

import tensorflow as tf

from ragan_tf.data.age_groups import get_scheme
from ragan_tf.data.face_mask import face_mask_lookup

SPLIT_ALIASES = {"validation": "test", "val": "test"}


def load_examples(data_config, split):
    """Raw examples of one split and their count.

    Returns:
        `(dataset, num_examples)`; the dataset yields raw example dicts.
    """
    split = SPLIT_ALIASES.get(split, split)
    if data_config.dataset == "synthetic":
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
        if split not in builder.info.splits:
            raise ValueError(
                f"Split {split!r} does not exist; choose one of {sorted(builder.info.splits)}."
            )
        dataset = builder.as_dataset(split=split, shuffle_files=False)
        dataset = dataset.map(
            lambda example: {**example, "gender": tf.cast(example["gender"], tf.int32)},
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        return dataset, builder.info.splits[split].num_examples
    raise ValueError(f"Unknown dataset {data_config.dataset!r}; available: ['synthetic'].")


def _preprocess(example, index, data_config, training, seed):
    size = data_config.image_size
    image = tf.cast(example["image"], tf.float32) / 127.5 - 1.0
    parsing = tf.cast(example["parsing"], tf.int32)
    if image.shape[0] != size or image.shape[1] != size:
        image = tf.image.resize(image, (size, size), method="area", antialias=True)
        parsing = tf.image.resize(parsing, (size, size), method="nearest")
    mask_table = tf.constant(face_mask_lookup(data_config.non_face_labels))
    face_mask = tf.gather(mask_table, parsing)
    if training and data_config.random_flip:
        flip = tf.random.stateless_uniform([], seed=tf.stack([tf.cast(seed, tf.int64), index])) < 0.5
        image = tf.where(flip, image[:, ::-1], image)
        face_mask = tf.where(flip, face_mask[:, ::-1], face_mask)
    group_table = tf.constant(get_scheme(data_config.age_groups).lookup_table(), tf.int32)
    year = tf.clip_by_value(tf.cast(tf.floor(example["age"]), tf.int32), 0, group_table.shape[0] - 1)
    return {
        "image": tf.ensure_shape(image, (size, size, 3)),
        "face_mask": tf.ensure_shape(face_mask, (size, size, 1)),
        "age_group": tf.gather(group_table, year),
        "age": tf.cast(example["age"], tf.float32),
        "identity": tf.cast(example["identity"], tf.int32),
        "gender": tf.cast(example["gender"], tf.int32),
    }


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
            mask together) when True.
        input_context: a `tf.distribute.InputContext` (from
            `distribute_datasets_from_function`), or None for one pipeline.
        repeat: repeat forever (the caller sets `steps_per_epoch`).
        seed: shuffle and augmentation seed.

    Returns:
        A `tf.data.Dataset` of batch dicts (see the module docstring).
    """
    dataset, _ = load_examples(data_config, split)
    batch_size = global_batch_size
    if input_context is not None:
        dataset = dataset.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        batch_size = input_context.get_per_replica_batch_size(global_batch_size)
    if data_config.cache:
        dataset = dataset.cache()
    if training:
        dataset = dataset.shuffle(data_config.shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.enumerate().map(
        lambda index, example: _preprocess(example, index, data_config, training, seed),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    dataset = dataset.filter(lambda example: example["age_group"] >= 0)
    dataset = dataset.batch(batch_size, drop_remainder=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def count_examples(data_config, split):
    """Examples in a split (before age-group filtering)."""
    return load_examples(data_config, split)[1]


def distributed_dataset(strategy, data_config, split, global_batch_size, training, seed=0):
    """`make_dataset` sharded over a strategy's input pipelines."""
    return strategy.distribute_datasets_from_function(
        lambda input_context: make_dataset(
            data_config, split, global_batch_size, training, input_context=input_context, seed=seed
        )
    )
