"""Training that never loses work: the numeric guard, backups that survive damage, refused resumes."""

import contextlib
import csv
import io
import json
from pathlib import Path

import keras
import numpy as np
import pytest

from ragan_tf.cli import main
from ragan_tf.config import ConfigError, architecture_diff, load_config
from ragan_tf.errors import BackupError, TrainingDiverged
from ragan_tf.training.backup import RunBackup, TrainingState, write_atomically
from ragan_tf.training.train import build_training_model, train

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "pipelines" / "ragan_synthetic_tiny.yaml"
STEPS = 3  # ragan_synthetic_tiny.yaml's training.steps_per_epoch


def tiny_config(tmp_path, **values):
    overrides = {"runtime.run_dir": str(tmp_path / "run"), "data.data_dir": str(tmp_path.parent / "tfds"),
                 "training.sample_every_steps": 0, "training.epochs": 2, **values}
    return load_config(TINY, [f"{key}={value}" for key, value in overrides.items()])


class Poison(keras.callbacks.Callback):
    """Writes NaN into a trainable weight after training step `step` (1-based): once, or after
    every step from then on (`always`), also after rollbacks."""

    def __init__(self, step, always=False):
        super().__init__()
        self.step = step
        self.always = always
        self.fired = False

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.train_step_count.numpy())
        if (step >= self.step and self.always) or (step == self.step and not self.fired):
            self.fired = True
            variable = self.model.trainable_variables[0]
            variable.assign(np.full(variable.shape, np.nan, variable.dtype))


class StopAfterEpoch(keras.callbacks.Callback):
    class Stop(Exception):
        pass

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            raise self.Stop()


def all_finite(model):
    return all(np.isfinite(variable.numpy()).all() for variable in model.weights)


def history_epochs(run):
    with open(run / "history.csv") as handle:
        return [int(row["epoch"]) for row in csv.DictReader(handle)]


def test_a_nan_step_stops_before_the_backup_is_overwritten(tmp_path):
    config = tiny_config(tmp_path)
    backup = RunBackup(tmp_path / "run" / "backup")
    with pytest.raises(TrainingDiverged, match=r"epoch 2, training step 5: .*not finite.*epoch 1\) is kept"):
        train(config, verbose=0, extra_callbacks=[Poison(STEPS + 1)])  # poisoned in step 4, seen after step 5
    assert backup.epochs() == [1, 0]
    run = tmp_path / "run"
    assert not (run / "final.weights.h5").exists() and not (run / "inference_model.keras").exists()
    model = build_training_model(config, __import__("tensorflow").distribute.get_strategy())
    assert backup.restore(model).epoch == 1 and all_finite(model)


def test_the_cli_reports_a_diverged_run_in_one_line_and_exits_non_zero(tmp_path, capsys):
    # A learning rate of 1e30: Adam's first steps move every weight by ~1e30, the losses overflow.
    overrides = ["--set", f"runtime.run_dir={tmp_path / 'run'}", "--set", f"data.data_dir={tmp_path.parent / 'tfds'}",
                 "--set", "training.learning_rate=1e30", "--set", "training.sample_every_steps=0"]
    assert main(["train", str(TINY), *overrides]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("ragan-tf train: error: Training stopped at epoch 1")
    assert not (tmp_path / "run" / "final.weights.h5").exists()
    assert RunBackup(tmp_path / "run" / "backup").epochs() == [0]  # only the finite starting point


def test_rollback_restores_the_last_backup_lowers_the_rates_and_finishes(tmp_path, capsys):
    config = tiny_config(tmp_path, **{"training.on_nan": "rollback", "training.nan_lr_factor": 0.5})
    model, history = train(config, verbose=0, extra_callbacks=[Poison(STEPS + 1)])
    out = capsys.readouterr().out
    assert "Rolled back at epoch 2, training step 5" in out and "restored the backup of epoch 1 (step 3)" in out
    assert all_finite(model) and (tmp_path / "run" / "final.weights.h5").exists()
    for optimizer in (model.generator_optimizer, model.discriminator_optimizer):
        assert float(optimizer.learning_rate) == pytest.approx(0.5 * config.training.learning_rate)
    metadata = json.loads(sorted((tmp_path / "run" / "backup").glob("epoch-*.json"))[-1].read_text())
    assert metadata["rollbacks"] == 1
    assert metadata["learning_rates"] == pytest.approx([0.5 * config.training.learning_rate] * 2)


def test_rollback_gives_up_after_max_rollbacks(tmp_path, capsys):
    config = tiny_config(tmp_path, **{"training.on_nan": "rollback", "training.max_rollbacks": 2})
    with pytest.raises(TrainingDiverged, match="training.on_nan: rollback"):
        train(config, verbose=0, extra_callbacks=[Poison(1, always=True)])
    out = capsys.readouterr().out
    assert out.count("Rolled back") == 2, out


@pytest.fixture(scope="module")
def resumed_after_damage(tmp_path_factory):
    """A run stopped after epoch 1 whose newest backup was then truncated, and run again to the end:
    `(config, run folder, what the second run printed, its model)`."""
    config = tiny_config(tmp_path_factory.mktemp("damaged"))
    run = Path(config.runtime.run_dir)
    with pytest.raises(StopAfterEpoch.Stop):
        train(config, verbose=0, extra_callbacks=[StopAfterEpoch(1)])
    assert history_epochs(run) == [0]
    newest = run / "backup" / "epoch-000001.weights.h5"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])  # truncated
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        model, _ = train(config, verbose=0)
    return config, run, printed.getvalue(), model


def test_a_damaged_latest_backup_falls_back_to_the_previous_one_without_duplicate_history(resumed_after_damage):
    _, run, out, model = resumed_after_damage
    assert "The backup of epoch 1" in out and "is damaged" in out
    assert "Resuming from the backup" in out and "0 of 2 epochs done, training step 0." in out
    assert (run / "backup" / "epoch-000001.weights.h5.damaged").exists()  # kept, not deleted
    assert history_epochs(run) == [0, 1]  # epoch 0's row was replaced, not duplicated
    assert int(model.train_step_count.numpy()) == 2 * STEPS


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import tensorflow as tf

    return build_training_model(tiny_config(tmp_path_factory.mktemp("model")), tf.distribute.get_strategy())


def test_with_no_intact_backup_the_run_starts_again_keeping_the_damaged_files(tiny_model, tmp_path):
    backup = RunBackup(tmp_path / "backup")
    for epoch in (1, 2):
        backup.save(tiny_model, TrainingState(epoch=epoch, step=epoch * STEPS))
    (tmp_path / "backup" / "epoch-000002.json").write_text("{not json")
    (tmp_path / "backup" / "epoch-000001.weights.h5").write_bytes(b"")
    messages = []
    assert backup.restore(tiny_model, report=messages.append) is None
    assert [message.split(" (")[0] for message in messages] == [
        f"The backup of epoch 2 in {backup.directory} is damaged", f"The backup of epoch 1 in {backup.directory} is damaged",
        f"No backup in {backup.directory} can be restored"]
    assert "starting the run again from the beginning" in messages[-1] and not backup.exists()
    assert sorted(path.name for path in backup.directory.iterdir()) == [
        "epoch-000001.json.damaged", "epoch-000001.weights.h5.damaged",
        "epoch-000002.json.damaged", "epoch-000002.weights.h5.damaged"]


def test_an_intact_backup_restores_the_random_generators_and_rates(tiny_model, tmp_path):
    from ragan_tf.training.backup import optimizers, seed_generators

    backup = RunBackup(tmp_path / "backup")
    generators = seed_generators(tiny_model)
    assert generators  # RAGAN's target-age draws
    before = [generator.state.numpy().copy() for generator in generators]
    backup.save(tiny_model, TrainingState(epoch=1, step=STEPS, rollbacks=2))
    for generator in generators:
        generator.next()
    optimizers(tiny_model)[0].learning_rate = 1.0
    state = backup.restore(tiny_model)
    assert (state.epoch, state.step, state.rollbacks) == (1, STEPS, 2)
    for generator, saved in zip(generators, before):
        np.testing.assert_array_equal(generator.state.numpy(), saved)
    assert float(optimizers(tiny_model)[0].learning_rate) == pytest.approx(1e-4)


def test_leftovers_of_a_killed_write_are_ignored_and_removed(tiny_model, tmp_path):
    backup = RunBackup(tmp_path / "backup")
    backup.save(tiny_model, TrainingState(epoch=1, step=STEPS))
    (backup.directory / "epoch-000002.partial.weights.h5").write_bytes(b"half a file")
    assert backup.restore(tiny_model).epoch == 1
    assert sorted(path.name for path in backup.directory.iterdir()) == ["epoch-000001.json", "epoch-000001.weights.h5"]


def test_only_the_two_newest_backups_are_kept(tiny_model, tmp_path):
    backup = RunBackup(tmp_path / "backup")
    for epoch in range(4):
        backup.save(tiny_model, TrainingState(epoch=epoch, step=epoch))
    assert backup.epochs() == [3, 2] and len(list(backup.directory.iterdir())) == 4


def test_an_empty_legacy_backup_does_not_block_reruns(tiny_model, tmp_path):
    backup = RunBackup(tmp_path / "backup")
    backup.directory.mkdir()
    (backup.directory / "latest.weights.h5").write_bytes(b"")  # a pre-issue-12 backup cut during its first write
    (backup.directory / "training_metadata.json").write_text("")
    messages = []
    assert backup.restore(tiny_model, report=messages.append) is None
    assert "cannot be restored" in messages[0] and "starting the run again" in messages[0]
    assert (backup.directory / "training_metadata.json.damaged").exists() and not backup.exists()


def test_write_atomically_leaves_the_old_file_when_the_write_fails(tmp_path):
    target = tmp_path / "final.weights.h5"
    target.write_text("old")

    def failing(path):
        Path(path).write_text("half")
        raise OSError(28, "No space left on device", path)

    with pytest.raises(OSError):
        write_atomically(target, failing)
    assert target.read_text() == "old"


def test_a_resume_with_another_architecture_is_refused_with_a_diff(resumed_after_damage, tmp_path):
    config, run, _, _ = resumed_after_damage  # a finished run with backups: what a resume finds
    saved = (run / "config.yaml").read_text()
    changed = load_config(TINY, [f"runtime.run_dir={run}", f"data.data_dir={config.data.data_dir}",
                                 "training.epochs=3", "model.base_channels=16"])
    with pytest.raises(BackupError, match=r"another architecture \(model.base_channels: 8 -> 16\)"):
        train(changed, verbose=0)
    assert (run / "config.yaml").read_text() == saved  # not overwritten
    assert not architecture_diff(config, tiny_config(tmp_path, **{"training.epochs": 2, "model.lambda_cyc": 5.0}))


def test_a_run_dir_that_is_a_file_is_refused_before_anything_is_written(tmp_path):
    (tmp_path / "run").write_text("a file")
    with pytest.raises(ConfigError, match=r"runtime.run_dir: .*run is a file"):
        train(tiny_config(tmp_path), verbose=0)
    assert (tmp_path / "run").read_text() == "a file"


def test_an_epoch_reads_the_same_batches_whatever_epoch_the_stream_starts_at(tmp_path):
    from ragan_tf.data.pipeline import make_dataset

    data = tiny_config(tmp_path).data
    stream = make_dataset(data, "train", 4, True, seed=3, steps_per_epoch=2)
    resumed = make_dataset(data, "train", 4, True, seed=3, start_epoch=1, steps_per_epoch=2)
    from_start = [batch["image"].numpy() for batch in stream.take(4)]
    from_epoch_1 = [batch["image"].numpy() for batch in resumed.take(2)]
    for expected, got in zip(from_start[2:], from_epoch_1):
        np.testing.assert_array_equal(expected, got)
    assert not np.array_equal(from_start[0], from_start[2])  # epochs differ from each other


def test_the_grid_faces_come_from_every_age_group_of_the_test_split(tmp_path):
    from ragan_tf.data.pipeline import make_dataset
    from ragan_tf.training.train import sample_batch

    config = tiny_config(tmp_path)
    present = {int(batch["age_group"][0]) for batch in make_dataset(config.data, "test", 1, False, repeat=False)}
    groups = sample_batch(config)["age_group"].tolist()
    shown = min(len(present), len(groups))
    assert len(set(groups[:shown])) == shown and groups[:shown] == sorted(groups[:shown])
