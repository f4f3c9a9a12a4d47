"""`ragan-tf train`: one experiment config -> a run folder, for any model family.

`config.model.type` picks the family (`ragan_tf.models.registry`); this
module never branches on it. One process (CPU, one or several GPUs, a TPU)
trains with Keras `fit`; `runtime.strategy: multi_worker` (a cluster named by
`TF_CONFIG`, or `--local-workers N` on one machine) runs the same
`train_step` under `strategy.run` in `ragan_tf.training.distributed_loop`,
because Keras 3 `fit` does not support MultiWorkerMirroredStrategy. Only the
chief writes the run folder; the other workers write to scratch folders. The run folder (`runtime.run_dir`) receives the
resolved `config.yaml`, a `backup/` of the last two epochs' training state
that a rerun of the same command resumes from (`ragan_tf.training.backup`:
crash-consistent, bit-exact resumption), per-epoch grids in `samples/`
(aging grids for age transformers, sample grids for samplers), TensorBoard
logs in `logs/`, `history.csv`, and at the end `final.weights.h5` (the whole
training state), `inference_model.keras` (the network that export and
evaluation use: the EMA generator, or the family's encoder + generator) and
`loss_curves.png`. A `NumericGuard` checks the losses after every step
(`training.on_nan`).
"""

import dataclasses
import shutil
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from ragan_tf.config import ConfigError, architecture_diff, format_diff, load_config, save_config
from ragan_tf.data.age_groups import get_scheme
from ragan_tf.data.pipeline import count_examples, count_training_examples, distributed_dataset, make_dataset
from ragan_tf.data.provenance import write_provenance
from ragan_tf.errors import BackupError, TrainingDiverged
from ragan_tf.models.registry import get_family
from ragan_tf.training.backup import RunBackup, write_atomically
from ragan_tf.training.callbacks import BackupWriter, GridWriter, NumericGuard, non_finite_weights
from ragan_tf.training.distributed_loop import fit_in_loop
from ragan_tf.training.strategy import is_multi_worker, make_strategy, worker_role

NUM_SAMPLE_FACES = 6
SAMPLE_CANDIDATES = 512
INFERENCE_MODEL_FILE = "inference_model.keras"


def build_training_model(config, strategy):
    """The family's compiled training model, its optimizers built inside `strategy.scope()`."""
    with strategy.scope():
        model = get_family(config.model.type).build_training_model(config)
        model.build_optimizers()
    return model


def sample_batch(config, num_faces=NUM_SAMPLE_FACES, candidates=SAMPLE_CANDIDATES):
    """A fixed batch of test faces (numpy dict) for aging grids: taken in turn from each age group
    among the first `candidates` test faces, youngest group first, so the grid shows sources of
    every age rather than whatever the file order puts first."""
    data_config = dataclasses.replace(config.data, image_dtype="float32")  # grids call the generator directly
    faces = list(make_dataset(data_config, "test", 1, training=False, repeat=False).take(candidates))
    if not faces:
        raise ConfigError(f"The test split has no face in the age groups of data.age_groups "
                          f"{config.data.age_groups!r}: nothing to draw the training grids from.")
    by_group = {}
    for face in faces:
        by_group.setdefault(int(face["age_group"].numpy()[0]), []).append(face)
    queues = [by_group[group] for group in sorted(by_group)]
    chosen = []
    while len(chosen) < num_faces and any(queues):
        chosen += [queue.pop(0) for queue in queues if queue][: num_faces - len(chosen)]
    return {key: np.concatenate([face[key].numpy() for face in chosen]) for key in chosen[0]}


def evaluation_callbacks(config, run_dir):
    """`[EvaluationCallback]` when `training.evaluate_every_epochs` > 0 (synthetic data only: it
    compares with exact ground truth; `TrainingConfig.validate` refuses it otherwise), else `[]`."""
    every = config.training.evaluate_every_epochs
    if every <= 0:
        return []
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

    Everything that can be checked is checked before anything is written:
    the config's values, the data (its image size, its examples per age
    group), and, when the run folder has a backup, that the architecture is
    the one the backup was trained with. A rerun of an interrupted run
    resumes from its newest intact backup and, with the same config, ends
    with the same weights as a run that was never interrupted (bit-identical
    with `runtime.deterministic`; see docs/RELIABILITY.md).

    Args:
        config: an `ExperimentConfig`.
        verbose: Keras `fit` verbosity.
        extra_callbacks: Keras callbacks to run after the built-in ones.

    Returns:
        `(model, history)`: the family's training model and Keras's `History`.

    Raises:
        ConfigError: a config value, or the data, that cannot be trained as asked.
        BackupError: a run folder that cannot be resumed with this config.
        TrainingDiverged: non-finite losses or weights (`training.on_nan`); the
            last good backup is kept and nothing final is written.
    """
    config.validate()
    family = get_family(config.model.type)
    run_dir = Path(config.runtime.run_dir)
    backup = RunBackup(run_dir / "backup")
    _check_run_dir(run_dir, backup, config)
    # First TensorFlow work of the process: a multi-worker strategy must exist before any other.
    strategy = make_strategy(config.runtime)
    role = worker_role(strategy)
    replicas = strategy.num_replicas_in_sync
    if config.training.batch_size % replicas:
        raise ConfigError(f"training.batch_size={config.training.batch_size} is the global batch and must divide "
                          f"by the {replicas} replicas of runtime.strategy={config.runtime.strategy}.")
    # The chief writes the run folder; other workers write the same files to a scratch folder.
    write_dir = role.write_dir(run_dir)
    writes = backup if role.is_chief else RunBackup(write_dir / "backup")
    if config.runtime.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(config.runtime.seed)
    if config.training.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    training = config.training
    steps = steps_per_epoch(config)  # reads (and for the synthetic data, builds) the dataset
    grid_batch = sample_batch(config)
    evaluation = evaluation_callbacks(config, write_dir)

    keras.utils.set_random_seed(config.runtime.seed)  # the same weights whether the data was built just now or not
    model = build_training_model(config, strategy)
    state = backup.restore(model, read_only=not role.is_chief)
    initial_epoch = state.epoch if state else 0
    if role.is_chief:
        save_config(config, run_dir / "config.yaml")
        write_provenance(config, run_dir)
        _keep_history(run_dir / "history.csv", initial_epoch)
    else:
        verbose = 0  # the chief reports progress
    if role.count > 1:
        print(f"Worker {role.index} of {role.count}{' (chief)' if role.is_chief else ''}: "
              f"{strategy.num_replicas_in_sync} replicas, global batch {training.batch_size}.", flush=True)
    if state is None:
        print(f"Starting a new run (no backup in {backup.directory}).", flush=True)
    else:
        print(f"Resuming from the backup in {backup.directory}: {state.epoch} of {training.epochs} epochs done, "
              f"training step {state.step}.", flush=True)

    train_data = training_dataset(config, strategy, initial_epoch, steps)
    validation_steps = training.validation_steps
    if validation_steps is None and is_multi_worker(strategy):  # the loop needs a count (fit reads to the end)
        validation_steps = max(1, count_examples(config.data, "test") // training.batch_size)
    validation_data = validation_dataset(config, strategy, validation_steps)
    guard = NumericGuard(writes, training.on_nan, training.nan_lr_factor, training.max_rollbacks,
                         rollbacks=state.rollbacks if state else 0)
    callbacks = [
        guard,
        BackupWriter(writes, guard, initial_epoch),
        *family.callbacks(config),
        keras.callbacks.CSVLogger(str(write_dir / "history.csv"), append=True),
        keras.callbacks.TensorBoard(str(write_dir / "logs"), update_freq=max(1, training.sample_every_steps // 10)),
        GridWriter(grid_batch, get_scheme(config.data.age_groups).labels, write_dir,
                   every_steps=training.sample_every_steps, seed=config.runtime.seed),
        *evaluation,
        *extra_callbacks,
    ]
    print(f"Training {family.name} ({family.paper}) for {training.epochs} epochs of {steps} steps"
          f"{' on ' + str(role.count) + ' workers' if role.count > 1 else ''}.", flush=True)
    loop = dict(epochs=training.epochs, initial_epoch=initial_epoch, steps_per_epoch=steps,
                validation_data=validation_data, validation_steps=validation_steps, callbacks=callbacks,
                verbose=verbose)
    if is_multi_worker(strategy):  # Keras fit fails there (keras-team/keras#20585): the same steps, our loop
        history = fit_in_loop(model, strategy, train_data, **loop)
    else:
        history = model.fit(train_data, shuffle=False, **loop)  # the tf.data pipeline shuffles
    if guard.failure is not None:
        kept = backup.epochs()
        advice = "training.learning_rate" + (", or set training.on_nan=rollback," if training.on_nan == "stop" else "")
        raise TrainingDiverged(
            f"Training stopped at {guard.failure} (training.on_nan: {training.on_nan}). Nothing final was written; "
            f"the last good backup (epoch {kept[0] if kept else 0}) is kept in {backup.directory}. Lower "
            f"{advice} and run the same command again."
        )
    _save_final(model, write_dir)
    if not role.is_chief:
        shutil.rmtree(write_dir, ignore_errors=True)
        return model, history
    from ragan_tf.visualization import save_loss_curves

    save_loss_curves(run_dir / "history.csv", run_dir / "loss_curves.png", title=f"{config.name} ({family.name})")
    _report(history, run_dir)
    return model, history


def training_dataset(config, strategy, start_epoch, steps):
    """The training stream from epoch `start_epoch` on, `steps` batches per epoch (`make_dataset`)."""
    kwargs = {"seed": config.runtime.seed, "start_epoch": start_epoch, "steps_per_epoch": steps}
    if config.runtime.strategy != "default":
        return distributed_dataset(strategy, config.data, "train", config.training.batch_size, True, **kwargs)
    return make_dataset(config.data, "train", config.training.batch_size, True, **kwargs)


def validation_dataset(config, strategy, steps=None):
    """The same `steps` test batches every epoch (default `training.validation_steps`; all test
    batches when None).

    Keras keeps one validation iterator across epochs when `validation_steps` is set, so those
    batches are repeated: every epoch reads one cycle of them."""
    steps = config.training.validation_steps if steps is None else steps

    def batches(input_context=None):
        dataset = make_dataset(config.data, "test", config.training.batch_size, False, input_context=input_context,
                               repeat=False)
        return dataset.take(steps).repeat() if steps else dataset

    if config.runtime.strategy != "default":
        return strategy.distribute_datasets_from_function(batches)
    return batches()


def _check_run_dir(run_dir, backup, config):
    """Refuses a run folder that cannot hold this run, before anything is written."""
    for path in (run_dir, backup.directory):
        if path.exists() and not path.is_dir():
            raise ConfigError(f"runtime.run_dir: {path} is a file, not a folder.")
    previous = run_dir / "config.yaml"
    if not backup.exists() or not previous.exists():
        return
    try:
        old = load_config(previous)
    except ConfigError as error:
        raise BackupError(f"{previous} (the config of the run being resumed) cannot be read: {error}") from None
    changed = architecture_diff(old, config)
    if changed:
        raise BackupError(
            f"{run_dir} holds a run with another architecture ({format_diff(changed)}); resume it with its own settings, "
            f"or set runtime.run_dir to a new folder."
        )


def _keep_history(path, epochs_done):
    """Drops the rows of `history.csv` from epochs a resumed run will train again (no duplicates)."""
    if not path.exists():
        return
    lines = path.read_text().splitlines(keepends=True)
    if not lines:
        return
    header, rows = lines[0], lines[1:]
    epoch_column = header.rstrip("\r\n").split(",").index("epoch") if "epoch" in header.split(",") else 0
    kept = [row for row in rows if row.strip() and _epoch_of(row, epoch_column) < epochs_done]
    write_atomically(path, lambda temporary: Path(temporary).write_text("".join([header, *kept]) if kept else ""))


def _epoch_of(row, column):
    try:
        return int(row.split(",")[column])
    except (IndexError, ValueError):
        return -1


def _save_final(model, run_dir):
    """`final.weights.h5` and the inference network, each written atomically; refused when non-finite."""
    bad = non_finite_weights(model)
    if bad:
        raise TrainingDiverged(f"The trained weights hold NaN or infinity ({', '.join(bad[:3])}); nothing final "
                               f"was written. The last good backup is in {run_dir / 'backup'}.")
    write_atomically(run_dir / "final.weights.h5", model.save_weights, failpoint="final_weights:0")
    write_atomically(run_dir / INFERENCE_MODEL_FILE, model.inference_model.save, failpoint="inference_model:0")


def _report(history, run_dir):
    last = {key: float(np.asarray(values[-1])) for key, values in history.history.items() if values}
    summary = ", ".join(f"{key} {value:.4f}" for key, value in sorted(last.items()))
    print(f"Run folder: {run_dir}\nLast epoch: {summary or 'nothing left to train'}", flush=True)
