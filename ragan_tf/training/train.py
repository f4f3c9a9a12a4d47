"""`ragan-tf train`: one experiment config -> a run folder, with Keras `fit`, for any model family.

`config.model.type` picks the family (`ragan_tf.models.registry`); this
module never branches on it. The run folder (`runtime.run_dir`) receives the
resolved `config.yaml`, a `backup/` that `BackupAndRestore` resumes from
after an interruption (the same command continues where the last completed
epoch ended), per-epoch grids in `samples/` (aging grids for age
transformers, sample grids for samplers), TensorBoard logs in `logs/`,
`history.csv`, and at the end `final.weights.h5` (the whole training
state), `inference_model.keras` (the network that export and evaluation
use: the EMA generator, or the family's encoder + generator) and
`loss_curves.png`.
"""

import dataclasses
from pathlib import Path

import keras
import numpy as np

from ragan_tf.config import ConfigError, save_config
from ragan_tf.data.age_groups import get_scheme
from ragan_tf.data.pipeline import count_training_examples, distributed_dataset, make_dataset
from ragan_tf.models.registry import get_family
from ragan_tf.training.callbacks import GridWriter, ResumeReport
from ragan_tf.training.strategy import make_strategy

NUM_SAMPLE_FACES = 6
INFERENCE_MODEL_FILE = "inference_model.keras"


def build_training_model(config, strategy):
    """The family's compiled training model, its optimizers built inside `strategy.scope()`."""
    with strategy.scope():
        model = get_family(config.model.type).build_training_model(config)
        model.build_optimizers()
    return model


def sample_batch(config, num_faces=NUM_SAMPLE_FACES):
    """A fixed batch of test faces (numpy dict) for aging grids."""
    data_config = dataclasses.replace(config.data, image_dtype="float32")  # grids call the generator directly
    faces = list(make_dataset(data_config, "test", 1, training=False, repeat=False).take(num_faces))
    if not faces:
        raise ConfigError(f"The test split has no face in the age groups of data.age_groups "
                          f"{config.data.age_groups!r}: nothing to draw the training grids from.")
    return {key: np.concatenate([face[key].numpy() for face in faces]) for key in faces[0]}


def evaluation_callbacks(config, run_dir):
    """`[EvaluationCallback]` when `training.evaluate_every_epochs` > 0 (synthetic data only: it
    compares with exact ground truth), else `[]`."""
    every = config.training.evaluate_every_epochs
    if every <= 0:
        return []
    if config.data.dataset != "synthetic":
        raise ConfigError("training.evaluate_every_epochs needs the synthetic dataset (exact ground truth); set it to 0.")
    from ragan_tf.evaluation.callback import EvaluationCallback
    from ragan_tf.evaluation.evaluate import synthetic_test_set

    return [EvaluationCallback(synthetic_test_set(config.data, config.training.evaluate_faces),
                               get_scheme(config.data.age_groups), run_dir / "logs", every,
                               non_face_labels=tuple(config.data.non_face_labels))]


def steps_per_epoch(config):
    """`training.steps_per_epoch`, or one pass over the examples the age-group scheme keeps."""
    training = config.training
    if training.steps_per_epoch:
        return training.steps_per_epoch
    examples = count_training_examples(config.data)
    if examples < training.batch_size:
        raise ConfigError(
            f"The training split has {examples} examples in the age groups of data.age_groups "
            f"{config.data.age_groups!r}, fewer than one batch of training.batch_size={training.batch_size}."
        )
    return examples // training.batch_size


def train(config, verbose="auto", extra_callbacks=()):
    """Trains (or resumes) the experiment `config` describes.

    Args:
        config: an `ExperimentConfig`.
        verbose: Keras `fit` verbosity.
        extra_callbacks: Keras callbacks to run after the built-in ones.

    Returns:
        `(model, history)`: the family's training model and Keras's `History`.
    """
    keras.utils.set_random_seed(config.runtime.seed)
    if config.training.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    family = get_family(config.model.type)
    run_dir = Path(config.runtime.run_dir)
    save_config(config, run_dir / "config.yaml")
    strategy = make_strategy(config.runtime)
    training = config.training

    steps = steps_per_epoch(config)
    if config.runtime.strategy != "default":
        train_data = distributed_dataset(strategy, config.data, "train", training.batch_size, True, config.runtime.seed)
        validation_data = distributed_dataset(strategy, config.data, "test", training.batch_size, False)
    else:
        train_data = make_dataset(config.data, "train", training.batch_size, True, seed=config.runtime.seed)
        validation_data = make_dataset(config.data, "test", training.batch_size, False)

    model = build_training_model(config, strategy)
    backup_dir = run_dir / "backup"
    callbacks = [
        keras.callbacks.BackupAndRestore(str(backup_dir), double_checkpoint=True, delete_checkpoint=False),
        ResumeReport(backup_dir, training.epochs),
        *family.callbacks(config),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
        keras.callbacks.TensorBoard(str(run_dir / "logs"), update_freq=max(1, training.sample_every_steps // 10)),
        GridWriter(sample_batch(config), get_scheme(config.data.age_groups).labels, run_dir,
                   every_steps=training.sample_every_steps, seed=config.runtime.seed),
        *evaluation_callbacks(config, run_dir),
        *extra_callbacks,
    ]
    print(f"Training {family.name} ({family.paper}) for {training.epochs} epochs of {steps} steps.", flush=True)
    history = model.fit(
        train_data,
        epochs=training.epochs,
        steps_per_epoch=steps,
        validation_data=validation_data,
        validation_steps=training.validation_steps,
        callbacks=callbacks,
        verbose=verbose,
        shuffle=False,  # the tf.data pipeline shuffles
    )
    model.save_weights(str(run_dir / "final.weights.h5"))
    model.inference_model.save(str(run_dir / INFERENCE_MODEL_FILE))
    from ragan_tf.visualization import save_loss_curves

    save_loss_curves(run_dir / "history.csv", run_dir / "loss_curves.png", title=f"{config.name} ({family.name})")
    _report(history, run_dir)
    return model, history


def _report(history, run_dir):
    last = {key: float(np.asarray(values[-1])) for key, values in history.history.items() if values}
    summary = ", ".join(f"{key} {value:.4f}" for key, value in sorted(last.items()))
    print(f"Run folder: {run_dir}\nLast epoch: {summary or 'nothing left to train'}", flush=True)
