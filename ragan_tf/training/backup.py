"""Crash-consistent training state: the backups `ragan-tf train` resumes from.

A run's `backup/` folder holds the state at the end of its last two epochs
(the newest and the one before, so a damaged newest one is never the only
one):

    epoch-000004.weights.h5   networks, EMA copies, optimizer state (`Model.save_weights`)
    epoch-000004.json         written last: epoch, training step, the state of the
                              model's random generators (target ages, noise), the
                              learning rates and rollbacks, and the size and
                              SHA-256 of the weights file

Every file is written to a `.partial` name, flushed to disk (fsync) and
renamed into place (`write_atomically`), and a backup counts only once its
metadata is there and matches the weights file. So a process killed at any
moment (SIGKILL, power loss) leaves either the new backup complete or the
previous one untouched, never a half-written file that a rerun trips over;
a rerun removes the `.partial` leftovers. A backup that fails its checks
when it is restored (truncated, edited, unreadable) is renamed `*.damaged`
(kept, not deleted), and the previous one is used, with a message; with no
intact backup left, the run starts again (a rerun never fails on a damaged
backup).

The random generators' state matters for exact resumption: Keras saves
variables of layers and optimizers but not `keras.random.SeedGenerator`
state, which decides the target ages and the noise of the next steps.
"""

import dataclasses
import hashlib
import json
import os
import re
from pathlib import Path

import keras
import numpy as np

from ragan_tf.errors import BackupError
from ragan_tf.training import failpoints

FORMAT = 1
KEEP = 2
PARTIAL = ".partial"
_NAME = re.compile(r"epoch-(\d{6})\.json")


def write_atomically(path, write, failpoint=None):
    """Calls `write(temporary_path)`, flushes the file to disk and renames it to `path`.

    The temporary name keeps `path`'s suffixes (Keras checks `.weights.h5` and
    `.keras`), so `write` may be `model.save_weights` or `model.save`.
    """
    path = Path(path)
    name, dot, suffixes = path.name.partition(".")
    temporary = path.with_name(f"{name}{PARTIAL}{dot}{suffixes}")
    write(str(temporary))
    _fsync(temporary)
    if failpoint:
        failpoints.reach(failpoint)
    os.replace(temporary, path)
    _fsync(path.parent)
    return path


def _fsync(path):
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def seed_generators(model):
    """Every `keras.random.SeedGenerator` of `model` and its layers, in a fixed order."""
    return [generator for layer in model._flatten_layers() for generator in layer._seed_generators]


def optimizers(model):
    """The optimizers a training model holds as attributes (each family has its own pair)."""
    return [value for _, value in sorted(vars(model).items()) if isinstance(value, keras.optimizers.Optimizer)]


def learning_rate(optimizer):
    """The optimizer's current rate as a Python float (also for a variable mirrored by a strategy)."""
    return float(np.asarray(keras.ops.convert_to_numpy(optimizer.learning_rate)))


@dataclasses.dataclass
class TrainingState:
    """What a backup records beside the weights."""

    epoch: int
    step: int
    rollbacks: int = 0
    legacy: bool = False  # a Keras `BackupAndRestore` folder (before the crash-consistent backups): no random state


class RunBackup:
    """Writes and restores the backups of one run folder's `backup/`.

    Example:
    ```python
    backup = RunBackup(run_dir / "backup")
    state = backup.restore(model)          # None: nothing to resume
    ...
    backup.save(model, TrainingState(epoch=5, step=750))
    ```
    """

    def __init__(self, directory):
        self.directory = Path(directory)

    def _paths(self, epoch):
        stem = self.directory / f"epoch-{epoch:06d}"
        return stem.with_suffix(".weights.h5"), stem.with_suffix(".json")

    def epochs(self):
        """Epochs with a backup (metadata present), newest first."""
        if not self.directory.is_dir():
            return []
        found = [int(match.group(1)) for match in map(_NAME.fullmatch, os.listdir(self.directory)) if match]
        return sorted(found, reverse=True)

    def exists(self):
        return bool(self.epochs()) or (self.directory / "latest.weights.h5").exists()

    def save(self, model, state):
        """Writes the backup of `state.epoch` atomically, then drops all but the newest `KEEP`."""
        if self.directory.exists() and not self.directory.is_dir():
            raise BackupError(f"{self.directory} is a file; the run's backups need that name for a folder.")
        self.directory.mkdir(parents=True, exist_ok=True)
        weights_path, metadata_path = self._paths(state.epoch)
        write_atomically(weights_path, model.save_weights, failpoint=f"backup_weights:{state.epoch}")
        metadata = {
            "format": FORMAT,
            **dataclasses.asdict(state),
            "seed_generators": [generator.state.numpy().tolist() for generator in seed_generators(model)],
            "learning_rates": [learning_rate(optimizer) for optimizer in optimizers(model)],
            "weights": {"file": weights_path.name, "bytes": weights_path.stat().st_size,
                        "sha256": _sha256(weights_path)},
        }
        write_atomically(metadata_path, lambda path: Path(path).write_text(json.dumps(metadata, indent=1)),
                         failpoint=f"backup_metadata:{state.epoch}")
        for epoch in self.epochs()[KEEP:]:
            for path in self._paths(epoch):
                path.unlink(missing_ok=True)

    def remove_partial(self):
        """Deletes the `.partial` files a killed write left behind."""
        if self.directory.is_dir():
            for path in self.directory.iterdir():
                if PARTIAL in path.name:
                    path.unlink()

    def restore(self, model, report=print, read_only=False):
        """Loads the newest intact backup into `model`.

        `read_only` (the non-chief workers of a cluster, which read the chief's
        backups): damaged backups are skipped but not renamed, and `.partial`
        leftovers are not removed; the chief does both.

        Returns:
            Its `TrainingState`, or None when there is no backup to resume
            from. A damaged backup is renamed `*.damaged` (kept) and the one
            before it is tried; when all are damaged, the run starts again.

        Raises:
            BackupError: an intact backup that does not fit `model` (another
                architecture).
        """
        if not read_only:
            self.remove_partial()
        epochs = self.epochs()
        if not epochs:
            return self._restore_legacy(model, report)
        for epoch in epochs:
            try:
                return self._restore(model, epoch)
            except (OSError, ValueError, KeyError, TypeError) as error:
                if read_only:
                    report(f"The backup of epoch {epoch} in {self.directory} is damaged ({_reason(error)}); "
                           f"trying the one before it.")
                    continue
                damaged = self._mark_damaged(epoch)
                report(f"The backup of epoch {epoch} in {self.directory} is damaged ({_reason(error)}); "
                       f"kept as {', '.join(damaged)}. Trying the one before it.")
        report(f"No backup in {self.directory} can be restored (all are damaged, kept as *.damaged): "
               f"starting the run again from the beginning.")
        return None

    def _restore(self, model, epoch):
        weights_path, metadata_path = self._paths(epoch)
        metadata = json.loads(metadata_path.read_text())
        if metadata.get("format") != FORMAT:
            raise ValueError(f"backup format {metadata.get('format')!r}, expected {FORMAT}")
        expected = metadata["weights"]
        if not weights_path.exists():
            raise ValueError(f"{weights_path.name} is missing")
        if weights_path.stat().st_size != expected["bytes"] or _sha256(weights_path) != expected["sha256"]:
            raise ValueError(f"{weights_path.name} does not match its recorded size and checksum")
        generators = seed_generators(model)
        try:  # the file is intact (checksum): a failure here is a different model, not damage
            model.load_weights(str(weights_path))
            if len(generators) != len(metadata["seed_generators"]):
                raise ValueError("the model's random generators do not match the backup's")
        except ValueError as error:
            raise BackupError(f"The backup of epoch {epoch} in {self.directory} does not fit this model "
                              f"({_reason(error)}); was the run's architecture changed?") from None
        for generator, values in zip(generators, metadata["seed_generators"]):
            generator.state.assign(np.asarray(values, generator.state.dtype))
        for optimizer, rate in zip(optimizers(model), metadata["learning_rates"]):
            optimizer.learning_rate = rate
        return TrainingState(epoch=metadata["epoch"], step=metadata["step"], rollbacks=metadata["rollbacks"])

    def _restore_legacy(self, model, report):
        """A Keras `BackupAndRestore` folder (`latest.weights.h5`, `training_metadata.json`)."""
        weights_path = self.directory / "latest.weights.h5"
        metadata_path = self.directory / "training_metadata.json"
        if not weights_path.exists():
            return None
        try:
            epoch = int(json.loads(metadata_path.read_text())["epoch"])
            model.load_weights(str(weights_path))
        except (OSError, ValueError, KeyError, TypeError) as error:
            damaged = _mark_damaged((weights_path, metadata_path))
            report(f"The backup in {self.directory} (written before the crash-consistent backups) cannot be restored "
                   f"({_reason(error)}; kept as {', '.join(damaged)}): starting the run again from the beginning.")
            return None
        report("Resuming from a backup written before the crash-consistent backups: the random state of the target draws was "
               "not saved then, so the rest of the run is not bit-identical to an uninterrupted one.")
        return TrainingState(epoch=epoch, step=int(model.train_step_count.numpy()), legacy=True)

    def _mark_damaged(self, epoch):
        return _mark_damaged(self._paths(epoch))


def _mark_damaged(paths):
    """Renames the existing `paths` to `*.damaged` (kept for a post-mortem); their new names."""
    names = []
    for path in paths:
        if path.exists():
            os.replace(path, path.with_name(path.name + ".damaged"))
            names.append(path.name + ".damaged")
    return names


def _reason(error):
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
