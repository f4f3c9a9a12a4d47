"""RAGAN's train step under `fit`: logs, EMA, lambda_rec schedule, distribution, XLA, checkpoints.

The MirroredStrategy test needs two logical CPU devices, which
`tests/conftest.py` creates before TensorFlow initialises.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import two_cpu_strategy

from ragan_tf.config import TrainingConfig
from ragan_tf.models.ragan.discriminator import Discriminator
from ragan_tf.models.ragan.generator import Generator
from ragan_tf.models.ragan.ragan import TRAIN_LOG_KEYS, VALIDATION_LOG_KEYS, RAGAN, LambdaRecSchedule
from ragan_tf.models.training_helpers import make_optimizer_pair

IMAGE_SIZE = 16
NUM_AGE_GROUPS = 3


def tiny_networks(sync_batch_norm=False):
    generator = Generator(
        IMAGE_SIZE,
        NUM_AGE_GROUPS,
        base_channels=8,
        max_channels=16,
        encoder_downsamples=1,
        encoder_residual_blocks=0,
        modulator_downsamples=1,
        age_code_dim=8,
        decoder_blocks=0,
        sync_batch_norm=sync_batch_norm,
    )
    return generator, Discriminator(IMAGE_SIZE, NUM_AGE_GROUPS, base_channels=8, max_channels=16)


def build_model(strategy=None, optimizers=None, sync_batch_norm=False, ema_decay=0.9, **compile_kwargs):
    """A compiled tiny RAGAN with built optimizers, made inside `strategy`'s scope."""
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        model = RAGAN(*tiny_networks(sync_batch_norm), NUM_AGE_GROUPS, ema_decay=ema_decay, seed=0)
        if optimizers is None:
            generator_optimizer, discriminator_optimizer = make_optimizer_pair(TrainingConfig(learning_rate=1e-3))
        else:
            generator_optimizer, discriminator_optimizer = optimizers()
        model.compile(generator_optimizer, discriminator_optimizer, **compile_kwargs)
        model.build_optimizers()
    return model


def random_batches(num_examples, batch_size, fixed_targets=False, seed=0):
    """A dataset shaped like the pipeline's (extra keys included, which the model ignores)."""
    rng = np.random.default_rng(seed)
    age_groups = rng.integers(0, NUM_AGE_GROUPS, num_examples).astype("int32")
    examples = {
        "image": rng.uniform(-1, 1, (num_examples, IMAGE_SIZE, IMAGE_SIZE, 3)).astype("float32"),
        "face_mask": (rng.uniform(size=(num_examples, IMAGE_SIZE, IMAGE_SIZE, 1)) > 0.3).astype("float32"),
        "age_group": age_groups,
        "age": rng.uniform(0, 80, num_examples).astype("float32"),
        "identity": np.arange(num_examples, dtype="int32"),
        "gender": rng.integers(0, 2, num_examples).astype("int32"),
    }
    if fixed_targets:
        offsets = rng.integers(1, NUM_AGE_GROUPS, num_examples)
        examples["target_age_group"] = ((age_groups + offsets) % NUM_AGE_GROUPS).astype("int32")
    return tf.data.Dataset.from_tensor_slices(examples).batch(batch_size, drop_remainder=True)


def numpy_weights(model):
    return [variable.numpy() for variable in model.weights]


def optimizer_state(model):
    return [variable.numpy() for variable in model.generator_optimizer.variables + model.discriminator_optimizer.variables]


def assert_all_close(actual, expected, atol):
    assert len(actual) == len(expected)
    for index, (a, b) in enumerate(zip(actual, expected)):
        np.testing.assert_allclose(a, b, atol=atol, rtol=0, err_msg=f"variable #{index}")


class GeneratorSnapshots(keras.callbacks.Callback):
    """The generator's trainable weights after every step."""

    def __init__(self):
        super().__init__()
        self.snapshots = []

    def on_train_batch_end(self, batch, logs=None):
        self.snapshots.append([v.numpy() for v in self.model.generator.trainable_variables])


@pytest.fixture(scope="module")
def trained():
    """A tiny RAGAN after one 3-step epoch with validation, with per-step generator snapshots."""
    keras.utils.set_random_seed(0)
    model = build_model()
    initial_ema = [v.numpy() for v in model.generator_ema.trainable_variables]
    snapshots = GeneratorSnapshots()
    history = model.fit(
        random_batches(12, 4),
        validation_data=random_batches(4, 4, seed=1),
        epochs=1,
        callbacks=[snapshots],
        verbose=0,
    )
    after_fit = {
        "ema": [v.numpy() for v in model.generator_ema.trainable_variables],
        "ema_state": [v.numpy() for v in model.generator_ema.non_trainable_variables],
        "generator_state": [v.numpy() for v in model.generator.non_trainable_variables],
    }
    # later tests train the model further; these are the values right after this fit
    return model, history.history, initial_ema, snapshots.snapshots, after_fit


def test_target_groups_are_uniform_over_the_other_groups(trained):
    model = trained[0]
    age_groups = np.tile(np.arange(NUM_AGE_GROUPS, dtype="int32"), 1000)
    targets = np.concatenate([np.asarray(model.sample_target_age_groups(age_groups)) for _ in range(3)])
    sources = np.tile(age_groups, 3)
    assert np.all(targets != sources)
    assert targets.min() >= 0 and targets.max() < NUM_AGE_GROUPS
    for source in range(NUM_AGE_GROUPS):
        counts = np.bincount(targets[sources == source], minlength=NUM_AGE_GROUPS)
        others = np.delete(counts, source)
        # 3000 draws per source, 1500 expected per other group
        assert np.all(np.abs(others - 1500) < 150), counts


def test_fit_logs_finite_losses_under_the_tracker_names(trained):
    model, history = trained[:2]
    assert [metric.name for metric in model.metrics] == list(TRAIN_LOG_KEYS)
    expected_keys = set(TRAIN_LOG_KEYS) | {f"val_{key}" for key in VALIDATION_LOG_KEYS}
    assert set(history) == expected_keys
    for key, values in history.items():
        assert len(values) == 1 and np.isfinite(values[0]), (key, values)
    assert history["r1"][0] > 0
    assert int(model.generator_optimizer.iterations) == int(model.discriminator_optimizer.iterations) >= 3


def test_ema_generator_follows_the_generator_by_the_ema_recursion(trained):
    _, _, initial_ema, snapshots, after_fit = trained
    assert len(snapshots) == 3
    expected = initial_ema
    for weights in snapshots:
        expected = [0.9 * average + 0.1 * weight for average, weight in zip(expected, weights)]
    ema = after_fit["ema"]
    generator = snapshots[-1]
    assert_all_close(ema, expected, atol=1e-6)
    differences = [np.max(np.abs(a - b)) for a, b in zip(ema, generator)]
    movements = [np.max(np.abs(a - b)) for a, b in zip(initial_ema, generator)]
    assert max(differences) > 0  # the EMA lags the generator...
    assert all(d <= m + 1e-6 for d, m in zip(differences, movements))  # ...but stays between start and now
    # batch-norm statistics are copied, not averaged
    assert_all_close(after_fit["ema_state"], after_fit["generator_state"], atol=0)


def test_model_call_runs_the_ema_generator(trained):
    model = trained[0]
    batch = next(iter(random_batches(2, 2)))
    inputs = {"image": batch["image"], "face_mask": batch["face_mask"], "target_age": batch["age_group"]}
    np.testing.assert_array_equal(
        model.predict(inputs, verbose=0),
        model.generator_ema(batch["image"], batch["face_mask"], batch["age_group"], training=False),
    )


def test_save_weights_restores_weights_and_optimizer_state(trained, tmp_path):
    model = trained[0]
    path = str(tmp_path / "ragan.weights.h5")
    model.save_weights(path)
    restored = build_model()
    assert int(restored.generator_optimizer.iterations) == 0
    restored.load_weights(path)
    assert int(restored.generator_optimizer.iterations) == int(model.generator_optimizer.iterations) > 0
    assert len(optimizer_state(restored)) == len(optimizer_state(model)) > 4  # Adam moments included
    assert_all_close(optimizer_state(restored), optimizer_state(model), atol=0)
    assert_all_close(numpy_weights(restored), numpy_weights(model), atol=0)


def test_config_round_trip_rebuilds_the_same_networks(trained):
    model = trained[0]
    rebuilt = RAGAN.from_config(model.get_config())
    assert rebuilt.generator.get_config() == model.generator.get_config()
    assert rebuilt.discriminator.get_config() == model.discriminator.get_config()
    assert (rebuilt.num_age_groups, rebuilt.ema_decay) == (NUM_AGE_GROUPS, 0.9)
    assert [v.shape for v in rebuilt.weights] == [v.shape for v in model.weights]


def test_lambda_rec_schedule_switches_at_the_given_epoch_and_on_resume(trained):
    model = trained[0]
    records = []
    recorder = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: records.append((epoch, float(model.lambda_rec.numpy()), dict(logs)))
    )
    schedule = LambdaRecSchedule(switch_epoch=2, late_value=1.0)
    data = random_batches(4, 4).repeat()
    model.fit(data, epochs=3, steps_per_epoch=1, callbacks=[schedule, recorder], verbose=0)
    # a resumed run starts at epoch 2 with lambda_rec still at its compiled value
    model.lambda_rec.assign(10.0)
    model.fit(data, initial_epoch=2, epochs=3, steps_per_epoch=1, callbacks=[schedule, recorder], verbose=0)
    assert [(epoch, value) for epoch, value, _ in records] == [(0, 10.0), (1, 10.0), (2, 1.0), (2, 1.0)]
    for _, value, logs in records:
        # one step per epoch: the logged total is exactly the weighted sum of the logged terms
        assert logs["g_loss"] == pytest.approx(logs["g_adv"] + value * logs["rec"] + logs["cyc"], rel=1e-5)


def sgd_optimizers():
    # Plain SGD: Adam would hide a wrongly scaled gradient, and turns the rounding noise
    # of gradients that are zero in exact arithmetic (biases before a norm) into full steps.
    return keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1)


# XLA and MirroredStrategy steps against the plain one-device step: the family test base
# (tests/model_family_test_base.py, `check_equivalent_runs`, in float64 with a derived tolerance).


@pytest.fixture(scope="module")
def mirrored():
    strategy = two_cpu_strategy()
    return strategy, build_model(strategy, sgd_optimizers, sync_batch_norm=True)


def test_replicas_draw_different_targets_and_match_one_device(mirrored, trained):
    strategy, model = mirrored
    # the same source groups on both replicas, 8 each
    local_batches = strategy.experimental_distribute_values_from_function(lambda context: tf.zeros(8, "int32"))
    draw = tf.function(lambda groups: model.sample_target_age_groups(groups, seed=7))
    replica_targets = [t.numpy() for t in strategy.experimental_local_results(strategy.run(draw, args=(local_batches,)))]
    assert not np.array_equal(replica_targets[0], replica_targets[1])
    one_device_targets = trained[0].sample_target_age_groups(np.zeros(16, "int32"), seed=7)
    np.testing.assert_array_equal(np.concatenate(replica_targets), one_device_targets)


def test_make_optimizers_follows_the_config():
    generator_optimizer, discriminator_optimizer = make_optimizer_pair(
        TrainingConfig(learning_rate=2e-4, beta_1=0.0, beta_2=0.99)
    )
    assert generator_optimizer is not discriminator_optimizer
    for optimizer in (generator_optimizer, discriminator_optimizer):
        assert isinstance(optimizer, keras.optimizers.Adam)
        assert float(optimizer.learning_rate) == pytest.approx(2e-4)
        assert (optimizer.beta_1, optimizer.beta_2) == (0.0, 0.99)
    mixed = make_optimizer_pair(TrainingConfig(mixed_precision=True))
    assert all(isinstance(optimizer, keras.optimizers.LossScaleOptimizer) for optimizer in mixed)


def quantized_batches(as_uint8, num_examples=8, batch_size=4):
    """The same pixels as uint8 (data.image_dtype: uint8) or in the model's float range."""
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (num_examples, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    masks = ((rng.uniform(size=(num_examples, IMAGE_SIZE, IMAGE_SIZE, 1)) > 0.3) * 255).astype(np.uint8)
    age_groups = rng.integers(0, NUM_AGE_GROUPS, num_examples).astype("int32")
    if not as_uint8:
        images = images.astype("float32") * np.float32(1.0 / 127.5) - np.float32(1.0)
        masks = masks.astype("float32") * np.float32(1.0 / 255.0)
    examples = {
        "image": images,
        "face_mask": masks,
        "age_group": age_groups,
        "target_age_group": ((age_groups + 1) % NUM_AGE_GROUPS).astype("int32"),
    }
    return tf.data.Dataset.from_tensor_slices(examples).batch(batch_size, drop_remainder=True)


def test_uint8_batches_train_exactly_like_their_float_form():
    runs = []
    for as_uint8 in (False, True):
        model = build_model(None, sgd_optimizers, ema_decay=0.5)
        if runs:
            for variable, value in zip(model.weights, runs[0][0]):
                variable.assign(value)
        initial = numpy_weights(model)
        logs = model.fit(quantized_batches(as_uint8), epochs=1, verbose=0).history
        runs.append((initial, numpy_weights(model), logs))
    (_, float_weights, float_logs), (_, uint8_weights, uint8_logs) = runs
    assert float_logs["g_loss"][0] == pytest.approx(uint8_logs["g_loss"][0], rel=1e-6)
    assert_all_close(uint8_weights, float_weights, atol=1e-6)
    assert max(np.max(np.abs(a - b)) for a, b in zip(float_weights, runs[0][0])) > 1e-3  # it did train
