"""Callbacks for `fit`: grids of the inference network (PNG and TensorBoard) and resumption reports."""

import json
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from ragan_tf.models.tasks import tasks_of
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
        if tasks["age_transformer"] is not None:
            grids[""] = aging_grid(tasks["age_transformer"], self.batch["image"], self.batch["face_mask"],
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


class ResumeReport(keras.callbacks.Callback):
    """Says whether `fit` resumed from a backup, and where. Place it after `BackupAndRestore`."""

    def __init__(self, backup_dir, total_epochs):
        super().__init__()
        self.backup_dir = Path(backup_dir)
        self.total_epochs = total_epochs

    def on_train_begin(self, logs=None):
        metadata = self.backup_dir / "training_metadata.json"
        if not metadata.exists():
            print(f"Starting a new run (no backup in {self.backup_dir}).", flush=True)
            return
        epoch = json.loads(metadata.read_text())["epoch"]
        step = int(self.model.train_step_count.numpy())
        print(
            f"Resuming from the backup in {self.backup_dir}: {epoch} of {self.total_epochs} "
            f"epochs done, training step {step}.",
            flush=True,
        )
