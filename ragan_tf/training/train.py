"""`ragan-tf train`: one experiment config -> a run folder, with Keras `fit`.

The run folder (`runtime.run_dir`) receives the resolved `config.yaml`, a
`backup/` that `BackupAndRestore` resumes from after an interruption (the
same command continues where the last completed epoch ended), per-epoch
aging grids in `samples/`, TensorBoard logs in `logs/`, `history.csv`, and at
the end `final.weights.h5` (the whole training state) and
`generator_ema.keras` (the EMA generator that export and evaluation use).
"""

import dataclasses
from pathlib import Path

import keras
import numpy as np

from ragan_tf.config import ConfigError, save_config
from ragan_tf.data.age_groups import get_scheme
from ragan_tf.data.pipeline import count_examples, distributed_dataset, make_dataset
from ragan_tf.models.ragan.builders import build_discriminator, build_generator
from ragan_tf.models.ragan.ragan import RAGAN, LambdaRecSchedule, make_optimizers
from ragan_tf.training.callbacks import AgingGridWriter, ResumeReport
from ragan_tf.training.strategy import make_strategy

NUM_SAMPLE_FACES = 6


def build_ragan(config, strategy):
    """The compiled RAGAN training model, its optimizers built inside `strategy.scope()`."""
    training = config.training
    with strategy.scope():
        model = RAGAN(
            build_generator(config),
            build_discriminator(config),
            num_age_groups=config.data.num_age_groups,
            ema_decay=training.ema_decay,
            seed=config.runtime.seed,
        )
        generator_optimizer, discriminator_optimizer = make_optimizers(training)
        model.compile(
            generator_optimizer=generator_optimizer,
            discriminator_optimizer=discriminator_optimizer,
            lambda_adv=training.lambda_adv,
            lambda_rec=training.lambda_rec,
            lambda_cyc=training.lambda_cyc,
            r1_gamma=training.r1_gamma,
            jit_compile=training.jit_compile,
            steps_per_execution=training.steps_per_execution,
        )
        model.build_optimizers()
    return model


def sample_batch(config, num_faces=NUM_SAMPLE_FACES):
    """A fixed batch of test faces (numpy dict) for aging grids."""
    data_config = dataclasses.replace(config.data, image_dtype="float32")  # grids call the generator directly
    dataset = make_dataset(data_config, "test", num_faces, training=False, repeat=False)
    return {key: value.numpy() for key, value in next(iter(dataset)).items()}


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


def train(config, verbose="auto", extra_callbacks=()):
    """Trains (or resumes) the experiment `config` describes.

    Args:
        config: an `ExperimentConfig`.
        verbose: Keras `fit` verbosity.
        extra_callbacks: Keras callbacks to run after the built-in ones.

    Returns:
        `(model, history)`: the RAGAN training model and Keras's `History`.
    """
    keras.utils.set_random_seed(config.runtime.seed)
    if config.training.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    run_dir = Path(config.runtime.run_dir)
    save_config(config, run_dir / "config.yaml")
    strategy = make_strategy(config.runtime)
    training = config.training

    steps_per_epoch = training.steps_per_epoch or count_examples(config.data, "train") // training.batch_size
    if steps_per_epoch < 1:
        raise ValueError(
            f"The training split has fewer examples than one batch of {training.batch_size}."
        )
    if config.runtime.strategy != "default":
        train_data = distributed_dataset(strategy, config.data, "train", training.batch_size, True, config.runtime.seed)
        validation_data = distributed_dataset(strategy, config.data, "test", training.batch_size, False)
    else:
        train_data = make_dataset(config.data, "train", training.batch_size, True, seed=config.runtime.seed)
        validation_data = make_dataset(config.data, "test", training.batch_size, False)

    model = build_ragan(config, strategy)
    backup_dir = run_dir / "backup"
    callbacks = [
        keras.callbacks.BackupAndRestore(str(backup_dir), double_checkpoint=True, delete_checkpoint=False),
        ResumeReport(backup_dir, training.epochs),
        LambdaRecSchedule(training.lambda_rec_switch_epoch, training.lambda_rec_late),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
        keras.callbacks.TensorBoard(str(run_dir / "logs"), update_freq=max(1, training.sample_every_steps // 10)),
        AgingGridWriter(
            sample_batch(config),
            get_scheme(config.data.age_groups).labels,
            run_dir,
            every_steps=training.sample_every_steps,
        ),
        *evaluation_callbacks(config, run_dir),
        *extra_callbacks,
    ]
    history = model.fit(
        train_data,
        epochs=training.epochs,
        steps_per_epoch=steps_per_epoch,
        validation_data=validation_data,
        validation_steps=training.validation_steps,
        callbacks=callbacks,
        verbose=verbose,
        shuffle=False,  # the tf.data pipeline shuffles
    )
    model.save_weights(str(run_dir / "final.weights.h5"))
    model.generator_ema.save(str(run_dir / "generator_ema.keras"))
    _report(history, run_dir)
    return model, history


def _report(history, run_dir):
    last = {key: float(np.asarray(values[-1])) for key, values in history.history.items() if values}
    summary = ", ".join(f"{key} {value:.4f}" for key, value in sorted(last.items()))
    print(f"Run folder: {run_dir}\nLast epoch: {summary or 'nothing left to train'}", flush=True)
