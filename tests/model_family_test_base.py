"""The checks every model family gets (keras-hub's `run_backbone_test` / `run_model_saving_test` idea).

A family test module builds a `FamilyCase` (its tiny pipeline, the batch keys that fix its random
draws) and calls the `check_*` functions; `tests/test_model_families.py` runs them for every
registered family. The equivalence checks (XLA, MirroredStrategy) run the networks in float64 and compare updates
relative to their size (see `assert_same_updates`), so their tolerance holds on any x86 CPU.
"""

import dataclasses
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from conftest import two_cpu_strategy

from ragan_tf.config import load_config
from ragan_tf.models.registry import get_family
from ragan_tf.models.tasks import tasks_of

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"
BATCH = 4


@dataclasses.dataclass
class FamilyCase:
    """One family's tiny setup.

    Attributes:
        family: the `model.type`.
        pipeline: a tiny pipeline YAML in `pipelines/`.
        overrides: `--set` style overrides on top of it.
        fixed_randomness: `f(rng, examples, config) -> {batch key: array}` replacing the train
            step's random draws (noise, target groups), so that two runs that must agree see
            the same values.
        prepare: `f(training model)` applied after building (e.g. a training phase).
    """

    family: str
    pipeline: str
    overrides: tuple = ()
    fixed_randomness: object = None
    prepare: object = None

    def config(self, *extra):
        return load_config(PIPELINES / self.pipeline, [*self.overrides, *extra])


def random_batches(config, num_examples, fixed_randomness=None, seed=0, dtype="float32"):
    """A dataset shaped like the pipeline's, with the case's fixed random draws; float arrays in `dtype`."""
    rng = np.random.default_rng(seed)
    size, groups = config.data.image_size, config.data.num_age_groups
    examples = {
        "image": rng.uniform(-1, 1, (num_examples, size, size, 3)).astype("float32"),
        "face_mask": (rng.uniform(size=(num_examples, size, size, 1)) > 0.3).astype("float32"),
        "age_group": rng.integers(0, groups, num_examples).astype("int32"),
        "age": rng.uniform(0, 80, num_examples).astype("float32"),
        "gender": rng.integers(-1, 2, num_examples).astype("int32"),
    }
    if fixed_randomness is not None:
        examples.update(fixed_randomness(rng, examples, config))
    examples = {key: value.astype(dtype) if value.dtype.kind == "f" else value for key, value in examples.items()}
    return tf.data.Dataset.from_tensor_slices(examples).batch(BATCH, drop_remainder=True)


def example_inputs(model, config, rng):
    """Inputs of each contract the inference network implements."""
    tasks, size = tasks_of(model), config.data.image_size
    inputs = {}
    if tasks["age_transformer"] is not None:
        inputs["age_transformer"] = (rng.uniform(-1, 1, (2, size, size, 3)).astype("float32"),
                                     np.ones((2, size, size, 1), "float32"),
                                     np.array([0, config.data.num_age_groups - 1], "int32"))
    if tasks["sampler"] is not None:
        sampler = tasks["sampler"]
        groups = np.array([0, sampler.num_age_groups - 1], "int32") if sampler.conditional else None
        inputs["sampler"] = (rng.standard_normal((2, sampler.noise_dim)).astype("float32"), groups)
    return inputs


def run_contracts(model, inputs):
    tasks = tasks_of(model)
    return {task: np.asarray(tasks[task](*args, training=False)) for task, args in inputs.items()}


def build(case, *extra, strategy=None, dtype=None):
    """`(config, compiled training model)`; with `dtype` (e.g. "float64") as the global dtype
    policy while the networks are made."""
    config = case.config(*extra)
    strategy = strategy or tf.distribute.get_strategy()
    previous = keras.config.dtype_policy()
    if dtype is not None:
        keras.config.set_dtype_policy(dtype)
    try:
        with strategy.scope():
            model = get_family(case.family).build_training_model(config)
            model.build_optimizers()
    finally:
        keras.config.set_dtype_policy(previous)
    if case.prepare is not None:
        case.prepare(model)
    return config, model


# ------------------------------------------------------------------------------------- checks
def check_eager_call(case):
    config, model = build(case)
    outputs = run_contracts(model.inference_model, example_inputs(model.inference_model, config,
                                                                  np.random.default_rng(0)))
    assert outputs, "the inference network implements no contract"
    size = config.data.image_size
    for task, output in outputs.items():
        assert output.shape == (2, size, size, 3), (task, output.shape)
        assert np.all(np.isfinite(output)) and np.abs(output).max() <= 1.0 + 1e-6, task
    if "sampler" in outputs and tasks_of(model.inference_model)["sampler"].conditional:
        noise, _ = example_inputs(model.inference_model, config, np.random.default_rng(0))["sampler"]
        sampler = tasks_of(model.inference_model)["sampler"]
        first = np.asarray(sampler(noise, np.zeros(2, "int32"), training=False))
        last = np.asarray(sampler(noise, np.full(2, sampler.num_age_groups - 1, "int32"), training=False))
        # DCGAN's N(0, 0.02) initialisation makes untrained outputs tiny (~1e-3): compare relatively
        assert np.abs(first - last).max() > 1e-2 * np.abs(first).max() > 0, "the age condition has no effect"


def check_save_and_reload(case, tmp_path):
    config, model = build(case)
    network = model.inference_model
    path = tmp_path / f"{case.family}.keras"
    network.save(path)
    reloaded = keras.saving.load_model(path, compile=False)
    assert type(reloaded) is type(network)
    inputs = example_inputs(network, config, np.random.default_rng(1))
    expected, actual = run_contracts(network, inputs), run_contracts(reloaded, inputs)
    for task in expected:
        # the same weights through the same ops on the same machine: identical results
        np.testing.assert_array_equal(actual[task], expected[task], err_msg=task)


def check_mixed_precision(case):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        config, model = build(case, "training.mixed_precision=true")
        history = model.fit(random_batches(config, 2 * BATCH, case.fixed_randomness), epochs=1, verbose=0).history
        network = model.inference_model
        outputs = run_contracts(network, example_inputs(network, config, np.random.default_rng(2)))
    finally:
        keras.config.set_dtype_policy(previous)
    measured = {key: values[0] for key, values in history.items() if np.isfinite(values[0])}
    assert measured, history
    assert all(np.isfinite(value) for value in measured.values())
    assert any(variable.dtype == "float32" for variable in model.trainable_variables)
    for task, output in outputs.items():
        assert np.all(np.isfinite(output)), task


def sgd(model, learning_rate=0.05):
    """Every optimizer of a training model replaced by plain SGD and built.

    Adam turns the rounding noise of gradients that are zero in exact arithmetic (biases before a
    norm) into full steps of size lr, and would hide a wrongly scaled gradient; SGD keeps an
    update proportional to its gradient.
    """
    for name in [name for name in vars(model) if name.endswith("_optimizer")]:
        if getattr(model, name) is not None:
            setattr(model, name, keras.optimizers.SGD(learning_rate))
    model.build_optimizers()
    return model


def weights(model):
    return [variable.numpy().astype(np.float64) for variable in model.weights]


def assert_same_updates(initial, expected, actual, message):
    """The weight updates of two float64 runs agree to 1e-7 of the largest update of the run.

    Reordered sums (XLA fusion, per-replica partial sums) move a float64 gradient by a few ulp
    (2.2e-16) times the square root of the number of summed terms, ~1e-13 of the largest
    gradient for the < 1e5-term sums of these tiny networks. In float32 the same reordering
    moves a pre-activation that sits within ~1e-6 of a ReLU kink to the other side, which
    flips its gradient and was measured at 2e-3 of the largest update (RAGAN, 32 px): hence
    float64. A real difference (gradients summed without the 1/replicas scale, different noise
    or targets per replica, unsynchronised batch statistics) moves updates by 10% or more.
    """
    updates = [b - a for a, b in zip(initial, expected)]
    assert len(initial) == len(expected) == len(actual)
    scale = max(np.abs(update).max() for update in updates)
    assert scale > 1e-4, f"{message}: the reference run did not train"
    for index, (start, reference, other) in enumerate(zip(initial, expected, actual)):
        np.testing.assert_allclose(other - start, reference - start, rtol=0, atol=1e-7 * scale,
                                   err_msg=f"{message}: variable #{index}")


def train_two_steps(case, initial=None, strategy=None, *extra):
    config, model = build(case, "training.ema_decay=0.5", *extra, strategy=strategy, dtype="float64")
    assert all(variable.dtype == "float64" for variable in model.trainable_variables)
    sgd(model)
    if initial is not None:
        for variable, value in zip(model.weights, initial):
            variable.assign(value.astype(variable.dtype))
    start = weights(model)
    batches = random_batches(config, 2 * BATCH, case.fixed_randomness, dtype="float64")
    history = model.fit(batches, epochs=1, verbose=0).history
    return model, start, weights(model), history


def check_equivalent_runs(case):
    """XLA step == plain step; MirroredStrategy on 2 logical CPUs == one device, same global batch."""
    reference, start, expected, logs = train_two_steps(case)
    _, _, xla, xla_logs = train_two_steps(case, start, None, "training.jit_compile=true")
    assert_same_updates(start, expected, xla, "XLA")
    strategy = two_cpu_strategy()
    mirrored_model, _, mirrored, mirrored_logs = train_two_steps(case, start, strategy)
    assert mirrored_model.distribute_strategy.num_replicas_in_sync == 2
    assert_same_updates(start, expected, mirrored, "MirroredStrategy")
    for other in (xla_logs, mirrored_logs):
        for key, values in logs.items():
            if np.isfinite(values[0]):
                assert other[key][0] == np.float32(other[key][0])  # a number, logged
                # logged through float32 trackers: float32 rounding of the same float64 value
                np.testing.assert_allclose(other[key][0], values[0], rtol=1e-6, err_msg=key)
    return reference, logs


def check_log_keys(case, model, logs):
    """`fit`'s log keys are the trackers' names (training) and `val_` + the validation subset."""
    tracker_names = [metric.name for metric in model.metrics]
    assert set(logs) == set(tracker_names), (sorted(logs), tracker_names)
    config = case.config()
    dtype = model.trainable_variables[0].dtype  # the float64 model of `check_equivalent_runs`
    history = model.fit(random_batches(config, BATCH, case.fixed_randomness, dtype=dtype),
                        validation_data=random_batches(config, BATCH, case.fixed_randomness, seed=1, dtype=dtype),
                        epochs=1, verbose=0).history
    train_keys = {key for key in history if not key.startswith("val_")}
    assert train_keys == set(tracker_names)
    assert {key[4:] for key in history if key.startswith("val_")} <= set(tracker_names)
