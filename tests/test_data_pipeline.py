import numpy as np
import pytest
import tensorflow as tf
from conftest import two_cpu_strategy

from ragan_tf.config import DataConfig
from ragan_tf.data.age_groups import get_scheme
from ragan_tf.data.face_mask import face_mask_from_parsing
from ragan_tf.data.pipeline import count_examples, distributed_dataset, load_examples, make_dataset
from ragan_tf.data.synthetic_aging_faces import SyntheticAgingFaces, synthetic_builder, synthetic_builder_config


@pytest.fixture(scope="module")
def data_config(tmp_path_factory):
    return DataConfig(
        image_size=32,
        data_dir=str(tmp_path_factory.mktemp("tfds")),
        synthetic_identities=12,
        synthetic_images_per_identity=3,
        synthetic_test_fraction=0.25,
        shuffle_buffer=1,
    )


def as_numpy(dataset, batches):
    return [{k: v.numpy() for k, v in batch.items()} for batch in dataset.take(batches)]


def test_tfds_builder_generates_and_splits_by_identity(data_config):
    builder = SyntheticAgingFaces(
        config=synthetic_builder_config(32, 12, 3, 0.25), data_dir=data_config.data_dir
    )
    builder.download_and_prepare()
    assert builder.info.splits["train"].num_examples == 27
    assert builder.info.splits["test"].num_examples == 9
    identities = {
        split: {int(x["identity"]) for x in builder.as_dataset(split=split).as_numpy_iterator()}
        for split in ("train", "test")
    }
    assert len(identities["train"]) == 9 and len(identities["test"]) == 3
    assert not identities["train"] & identities["test"]
    example = next(builder.as_dataset(split="test").as_numpy_iterator())
    assert example["image"].shape == (32, 32, 3) and example["image"].dtype == np.uint8
    assert example["parsing"].shape == (32, 32, 1) and example["parsing"].max() <= 18
    assert 0.0 <= example["age"] <= 90.0


def test_batches_have_static_shapes_ranges_and_labels(data_config):
    dataset = make_dataset(data_config, "train", 4, training=True)
    spec = dataset.element_spec
    assert spec["image"].shape == (4, 32, 32, 3) and spec["face_mask"].shape == (4, 32, 32, 1)
    assert spec["age_group"].shape == (4,) and spec["age_group"].dtype == tf.int32
    scheme = get_scheme("ffhq_aging")
    for batch in as_numpy(dataset, 10):  # 40 examples > 27: repeats
        assert batch["image"].min() >= -1.0 and batch["image"].max() <= 1.0
        assert set(np.unique(batch["face_mask"])) <= {0.0, 1.0}
        np.testing.assert_array_equal(batch["age_group"], scheme.group_of(batch["age"]))


def test_face_mask_matches_parsing(data_config):
    builder = SyntheticAgingFaces(config=synthetic_builder_config(32, 12, 3, 0.25), data_dir=data_config.data_dir)
    raw = next(builder.as_dataset(split="test", shuffle_files=False).as_numpy_iterator())
    common = next(load_examples(data_config, "test")[0].as_numpy_iterator())
    np.testing.assert_array_equal(common["image"], raw["image"])
    np.testing.assert_array_equal(common["face_mask"], face_mask_from_parsing(raw["parsing"]) * 255)
    assert common["age_low"] == common["age_high"] == np.floor(raw["age"])
    batch = as_numpy(make_dataset(data_config, "test", 1, training=False, repeat=False), 1)[0]
    np.testing.assert_allclose(batch["image"][0], raw["image"] / 127.5 - 1.0, atol=1e-6)
    np.testing.assert_array_equal(batch["face_mask"][0], face_mask_from_parsing(raw["parsing"]))
    face_fraction = batch["face_mask"].mean()
    assert 0.1 < face_fraction < 0.8


def test_random_flip_moves_mask_with_image(data_config):
    plain = as_numpy(make_dataset(data_config, "train", 27, training=False, repeat=False), 1)[0]
    flipped = as_numpy(make_dataset(data_config, "train", 27, training=True, repeat=False), 1)[0]
    flips = 0
    for i in range(27):
        j = int(np.flatnonzero((plain["identity"] == flipped["identity"][i]) & (plain["age"] == flipped["age"][i]))[0])
        if np.array_equal(flipped["image"][i], plain["image"][j]):
            np.testing.assert_array_equal(flipped["face_mask"][i], plain["face_mask"][j])
        else:
            flips += 1
            np.testing.assert_array_equal(flipped["image"][i], plain["image"][j][:, ::-1])
            np.testing.assert_array_equal(flipped["face_mask"][i], plain["face_mask"][j][:, ::-1])
    assert 0 < flips < 27


def test_sharding_splits_the_data_between_input_pipelines(data_config):
    keys = []
    for pipeline_id in range(2):
        context = tf.distribute.InputContext(2, pipeline_id, 2)
        dataset = make_dataset(data_config, "test", 4, training=False, input_context=context, repeat=False)
        assert dataset.element_spec["image"].shape[0] == 2  # per-replica batch
        keys.append({(int(i), float(a)) for b in as_numpy(dataset, 10) for i, a in zip(b["identity"], b["age"])})
    assert keys[0] and keys[1] and not keys[0] & keys[1]


def test_distributed_dataset_feeds_each_replica(data_config):
    strategy = two_cpu_strategy()
    batch = next(iter(distributed_dataset(strategy, data_config, "test", 4, training=False)))
    images = strategy.experimental_local_results(batch["image"])
    assert len(images) == 2 and all(tuple(image.shape) == (2, 32, 32, 3) for image in images)


def test_group_filter_and_unknown_inputs(data_config):
    import dataclasses

    two_groups = dataclasses.replace(data_config, age_groups="two_groups")
    batches = as_numpy(make_dataset(two_groups, "train", 2, training=False), 5)
    assert all(set(b["age_group"]) <= {0, 1} for b in batches)
    assert count_examples(data_config, "validation") == 9
    with pytest.raises(ValueError, match="Unknown dataset"):
        load_examples(dataclasses.replace(data_config, dataset="imagenet"), "train")
    with pytest.raises(ValueError, match="Split 'holdout' does not exist"):
        load_examples(data_config, "holdout")


def test_predefined_and_custom_configs_both_build(tmp_path):
    predefined = synthetic_builder(data_dir=str(tmp_path), image_size=64)  # the default quick-start data
    assert predefined.builder_config is SyntheticAgingFaces.BUILDER_CONFIGS[1]
    custom = synthetic_builder(data_dir=str(tmp_path), image_size=64, num_identities=7)
    assert custom.builder_config.num_identities == 7 and custom.builder_config.name == "size64_ids7_per10_test10_seed0"


def test_an_epoch_counts_only_the_faces_the_age_group_scheme_keeps(data_config):
    import dataclasses

    from ragan_tf.data.pipeline import count_training_examples

    two_groups = dataclasses.replace(data_config, age_groups="two_groups")
    ages = np.array([float(example["age"]) for example in load_examples(two_groups, "train")[0]])
    kept = int(np.sum(get_scheme("two_groups").group_of(ages) >= 0))
    assert count_training_examples(two_groups) == kept < count_examples(two_groups, "train") == 27
    assert count_training_examples(data_config) == 27  # every synthetic age is in one of the 10 groups
    # and the pipeline yields exactly those faces
    faces = sum(len(batch["age_group"]) for batch in make_dataset(two_groups, "train", 1, False, repeat=False))
    assert faces == kept
