"""Callbacks for `fit`: grids of the inference network (PNG and TensorBoard), the numeric guard
and the backups."""

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from ragan_tf.models.tasks import tasks_of
from ragan_tf.training import failpoints
from ragan_tf.training.backup import TrainingState, learning_rate, optimizers
from ragan_tf.sampling import aging_grid, sample_grid
from ragan_tf.visualization import save_png

SAMPLE_ROWS = 6


class GridWriter(keras.callbacks.Callback):
    """Pictures of what the model makes, through its task contract (`ragan_tf.models.tasks`).

    An age transformer: an aging grid of a fixed batch of test faces (input,
    then every age group). A sampler: a grid of samples from fixed noise (a
    conditional one: one column per age group, the same z along a row).
    At the end of every epoch: `run_dir/samples/epoch_NNN.png` (and, for a
    network that is both, the sample grid as `epoch_NNN_samples.png`); every
    `every_steps` training steps (0 = never): an image summary in
    `run_dir/logs/samples` for TensorBoard (the first of the grids).

    Args:
        batch: a batch dict with `image`, `face_mask`, `age_group` (numpy).
        age_group_labels: column headers, one per age group.
        run_dir: the run folder.
        every_steps: TensorBoard image interval in steps.
        seed: seed of the fixed noise.
    """

    def __init__(self, batch, age_group_labels, run_dir, every_steps=0, seed=0):
        super().__init__()
        self.batch = batch
        self.age_group_labels = list(age_group_labels)
        self.run_dir = Path(run_dir)
        self.every_steps = every_steps
        self.seed = seed
        self._writer = None
        self._noise = None

    def _grids(self, title):
        """`{file suffix: picture}`: "" for the first contract's grid, "_samples" for a second."""
        tasks = tasks_of(self.model.inference_model)
        grids = {}
        transformer = tasks["age_transformer"]
        if transformer is not None:
            if getattr(transformer, "takes_source", False):  # the faces' own age group (and gender) are known
                source = {"source_age": self.batch["age_group"], "gender": self.batch.get("gender")}
                # Age-cGAN's `age_faces` optimises each face's latent once for all the grid's columns
                aging = lambda images, masks, groups, training=False: transformer.age_faces(  # noqa: E731
                    images, masks, groups, **source)
            else:
                aging = transformer
            grids[""] = aging_grid(aging, self.batch["image"], self.batch["face_mask"],
                                   self.age_group_labels, source_groups=self.batch["age_group"], title=title)
        sampler = tasks["sampler"]
        if sampler is not None:
            if self._noise is None:
                count = SAMPLE_ROWS if sampler.conditional else SAMPLE_ROWS * SAMPLE_ROWS
                self._noise = np.random.default_rng(self.seed).standard_normal((count, sampler.noise_dim)).astype(
                    "float32")
            grids["_samples" if grids else ""] = sample_grid(sampler, self._noise, self.age_group_labels,
                                                             title=f"{title}, samples")
        return grids

    def on_train_batch_end(self, batch, logs=None):
        if not self.every_steps:
            return
        step = int(self.model.train_step_count.numpy())
        if step % self.every_steps:
            return
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(str(self.run_dir / "logs" / "samples"))
        with self._writer.as_default():
            tf.summary.image("grid", self._grids(f"step {step}")[""][None], step=step)

    def on_epoch_end(self, epoch, logs=None):
        for suffix, grid in self._grids(f"epoch {epoch + 1}").items():
            save_png(grid, self.run_dir / "samples" / f"epoch_{epoch + 1:03d}{suffix}.png")


def non_finite_losses(model, logs=None):
    """Names of the logged losses (`logs`, default: the model's trackers) that are NaN or
    infinite. A tracker with nothing recorded (a training phase that did not run this epoch)
    reports NaN as a missing value, not a failure."""
    if logs is None:
        logs = {metric.name: metric.result() for metric in model.metrics}
    suspects = [name for name, value in logs.items() if not np.all(np.isfinite(keras.ops.convert_to_numpy(value)))]
    if not suspects:  # the per-step path: no tracker is read again
        return []
    trackers = {metric.name: metric for metric in model.metrics}
    return [name for name in suspects
            if name not in trackers or float(keras.ops.convert_to_numpy(getattr(trackers[name], "count", 1))) > 0]


def non_finite_weights(model):
    """Names of the model's variables holding NaN or infinity."""
    return [variable.path for variable in model.weights if not np.all(np.isfinite(variable.numpy()))]


class NumericGuard(keras.callbacks.Callback):
    """Checks the losses after every training step (every execution under
    `training.steps_per_execution`) and acts on the first non-finite one.

    `policy="stop"`: stops `fit` at once; `failure` says where, and the run's
    backups stay as they were (`BackupWriter` writes nothing after it).
    `policy="rollback"`: restores the last backup, multiplies every learning
    rate by `lr_factor` and goes on with the next batches, at most
    `max_rollbacks` times in a run (then it stops). Place it before
    `BackupWriter`.
    """

    def __init__(self, backup, policy="stop", lr_factor=0.5, max_rollbacks=3, rollbacks=0, report=print):
        super().__init__()
        self.backup = backup
        self.policy = policy
        self.lr_factor = lr_factor
        self.max_rollbacks = max_rollbacks
        self.rollbacks = rollbacks
        self.report = report
        self.failure = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.train_step_count.numpy())
        failpoints.reach(f"train_step:{step}")
        bad = non_finite_losses(self.model, logs)
        if not bad:
            return
        self.handle(f"epoch {self._epoch + 1}, training step {step}: {', '.join(bad)} not finite")

    def handle(self, where):
        """Rolls back, or stops and records `where` as the failure, as the policy says."""
        if self.policy == "rollback" and self.rollbacks < self.max_rollbacks and self.backup.exists():
            rates = [learning_rate(optimizer) * self.lr_factor for optimizer in optimizers(self.model)]
            state = self.backup.restore(self.model, report=self.report)
            for optimizer, rate in zip(optimizers(self.model), rates):
                optimizer.learning_rate = float(rate)
            for metric in self.model.metrics:
                metric.reset_state()
            self.rollbacks += 1
            self.report(f"Rolled back at {where}: restored the backup of epoch {state.epoch} (step {state.step}), "
                        f"learning rates x{self.lr_factor:g} (now {', '.join(f'{float(r):.3g}' for r in rates)}); "
                        f"rollback {self.rollbacks} of at most {self.max_rollbacks}.")
            return
        self.failure = where
        self.model.stop_training = True


class BackupWriter(keras.callbacks.Callback):
    """Writes the run's backup (`RunBackup`) at the start of a new run and at the end of every
    epoch, never after `guard` failed; non-finite weights go to `guard.handle` instead."""

    def __init__(self, backup, guard, initial_epoch):
        super().__init__()
        self.backup = backup
        self.guard = guard
        self.initial_epoch = initial_epoch

    def _save(self, epoch):
        bad = non_finite_weights(self.model)
        if bad:  # the guard rolls back (to a backup: nothing to save) or stops
            self.guard.handle(f"the end of epoch {epoch}: weights {', '.join(bad[:3])} not finite")
            return
        self.backup.save(self.model, TrainingState(epoch=epoch, step=int(self.model.train_step_count.numpy()),
                                                   rollbacks=self.guard.rollbacks))

    def on_train_begin(self, logs=None):
        if not self.backup.exists():
            # The rollback point of the first epoch (a non-chief worker's scratch backup: the restored state).
            self._save(self.initial_epoch)

    def on_epoch_end(self, epoch, logs=None):
        if self.guard.failure is None:
            self._save(epoch + 1)
