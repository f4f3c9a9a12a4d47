"""`ragan-tf train` end to end on the tiny pipeline: run folder, resume after kill -9."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest

from ragan_tf.config import load_config
from ragan_tf.training.backup import RunBackup

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "pipelines" / "ragan_synthetic_tiny.yaml"


def tiny_overrides(tmp_path, **values):
    overrides = {"runtime.run_dir": str(tmp_path / "run"), "data.data_dir": str(tmp_path / "tfds"), **values}
    return [f"{key}={value}" for key, value in overrides.items()]


class Interrupt(Exception):
    pass


class InterruptAfterEpoch(keras.callbacks.Callback):
    """Records the training state when epoch `epoch` (0-based) ends, then stops the run."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch
        self.state = None

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            self.state = optimizer_state(self.model)
            raise Interrupt()


class StateAtStart(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.state = optimizer_state(self.model)


def optimizer_state(model):
    """Every optimizer variable of a training model (all families name theirs `*_optimizer`)."""
    optimizers = [getattr(model, name) for name in sorted(vars(model)) if name.endswith("_optimizer")]
    return [v.numpy().copy() for optimizer in optimizers for v in optimizer.variables]


def test_train_resumes_with_identical_state_and_writes_the_run_folder(tmp_path, capsys):
    from ragan_tf.training.train import train

    config = load_config(TINY, tiny_overrides(tmp_path, **{"training.epochs": 3}))
    steps = config.training.steps_per_epoch
    interrupt = InterruptAfterEpoch(1)
    with pytest.raises(Interrupt):
        train(config, verbose=0, extra_callbacks=[interrupt])
    assert "Starting a new run" in capsys.readouterr().out
    resumed = StateAtStart()
    model, history = train(config, verbose=0, extra_callbacks=[resumed])
    assert f"Resuming from the backup in {tmp_path / 'run' / 'backup'}: 2 of 3 epochs done, training step {2 * steps}." in capsys.readouterr().out

    # The resumed run starts from exactly the optimizer state the first run had after epoch 2.
    assert int(interrupt.state[0]) == 2 * steps
    assert len(resumed.state) == len(interrupt.state)
    for restored, saved in zip(resumed.state, interrupt.state):
        np.testing.assert_array_equal(restored, saved)
    assert len(history.history["g_loss"]) == 1  # only the remaining epoch
    assert int(model.generator_optimizer.iterations.numpy()) == 3 * steps
    assert float(model.lambda_rec.numpy()) == 1.0  # switched at epoch 1 (ragan_synthetic_tiny.yaml)

    run = tmp_path / "run"
    assert load_config(run / "config.yaml") == config
    for epoch in (1, 2, 3):
        grid = cv2.imread(str(run / "samples" / f"epoch_{epoch:03d}.png"))
        # 6 sample rows of 32 px; input + 10 age groups = 11 columns
        assert grid.shape[0] > 6 * 32 and grid.shape[1] > 11 * 32
    assert (run / "final.weights.h5").exists() and (run / "inference_model.keras").exists()
    assert json.loads((run / "data_provenance.json").read_text())["alignment"] == "synthetic"
    curves = cv2.imread(str(run / "loss_curves.png"))
    assert curves is not None and curves.shape[0] > 200 and curves.std() > 10  # a drawn plot, not a blank
    assert list((run / "logs").rglob("events.out.tfevents.*"))
    with open(run / "history.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["epoch"]) for row in rows][-1] == 2
    assert {"d_loss", "g_loss", "rec", "cyc", "r1", "val_rec"} <= set(rows[0])
    assert all(np.isfinite(float(row[key])) for row in rows for key in row)


def _run_train(overrides, pipeline=TINY, **popen_kwargs):
    command = [sys.executable, "-m", "ragan_tf", "train", str(pipeline)]
    for override in overrides:
        command += ["--set", override]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "-1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen_kwargs)


@pytest.mark.slow
@pytest.mark.parametrize("pipeline", ["ragan_synthetic_tiny", "dcgan_synthetic_tiny", "encoder_cdcgan_synthetic_tiny"])
def test_killed_run_resumes_from_its_last_epoch(tmp_path, pipeline):
    """A real `kill -9` of `ragan-tf train`, then the same command again (two processes, ~3 min)."""
    overrides = tiny_overrides(tmp_path, **{"training.epochs": 4, "training.steps_per_epoch": 6})
    pipeline = REPO / "pipelines" / f"{pipeline}.yaml"
    backup = RunBackup(tmp_path / "run" / "backup")

    first = _run_train(overrides, pipeline)
    deadline = time.time() + 240
    epochs_done = 0
    while time.time() < deadline and first.poll() is None:
        epochs_done = max(backup.epochs(), default=0)
        if epochs_done >= 1:
            break
        time.sleep(0.05)
    assert first.poll() is None, "the first run ended before it could be killed:\n" + first.stdout.read()
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert epochs_done < 4

    second = _run_train(overrides, pipeline)
    output = second.communicate(timeout=300)[0]
    assert second.returncode == 0, output
    resumed = [line for line in output.splitlines() if line.startswith("Resuming from the backup")]
    assert resumed, output
    done = int(resumed[0].split(": ")[1].split(" of ")[0])
    assert done >= epochs_done and f"training step {done * 6}" in resumed[0]

    # The resumed run trained only the remaining epochs, and its optimizer
    # step count continued from the backup instead of restarting at zero.
    from ragan_tf.training.train import build_training_model
    import tensorflow as tf

    config = load_config(tmp_path / "run" / "config.yaml")
    model = build_training_model(config, tf.distribute.get_strategy())
    model.load_weights(str(tmp_path / "run" / "final.weights.h5"))
    assert int(model.train_step_count.numpy()) == 4 * 6
    with open(tmp_path / "run" / "history.csv") as handle:
        epochs = [int(row["epoch"]) for row in csv.DictReader(handle)]
    assert epochs[-1] == 3 and epochs.count(3) == 1


class FakeAges:
    def predict_ages(self, images):
        return np.linspace(5.0, 80.0, len(images))


@pytest.mark.parametrize("family", ["dcgan", "vanilla_gan", "encoder_cdcgan"])
def test_every_family_trains_resumes_exports_and_evaluates_with_the_same_commands(tmp_path, capsys, family):
    from ragan_tf.cli import main
    from ragan_tf.evaluation.evaluate import Metrics, evaluate
    from ragan_tf.training.train import train

    pipeline = REPO / "pipelines" / f"{family}_synthetic_tiny.yaml"
    config = load_config(pipeline, tiny_overrides(tmp_path, **{"training.epochs": 3}))
    interrupt = InterruptAfterEpoch(1)
    with pytest.raises(Interrupt):
        train(config, verbose=0, extra_callbacks=[interrupt])
    resumed = StateAtStart()
    model, history = train(config, verbose=0, extra_callbacks=[resumed])
    assert "Resuming from the backup" in capsys.readouterr().out
    assert len(resumed.state) == len(interrupt.state) > 0
    for restored, saved in zip(resumed.state, interrupt.state):
        np.testing.assert_array_equal(restored, saved)
    steps = config.training.steps_per_epoch
    assert int(model.train_step_count.numpy()) == 3 * steps
    if family == "encoder_cdcgan":  # epoch 3 of 3 is the encoder phase (encoder_epochs: 1), also after resuming
        assert model.phase == "encoder" and int(model.generator_optimizer.iterations) == 2 * steps
        assert np.isfinite(history.history["encoder_loss"][0]) and np.isnan(history.history["g_loss"][0])

    run = tmp_path / "run"
    grid = cv2.imread(str(run / "samples" / "epoch_003.png"))
    assert grid is not None and grid.shape[0] > 32 and grid.shape[1] > 2 * 32
    samples = cv2.imread(str(run / "samples" / "epoch_003_samples.png"))
    assert (samples is not None) == (family == "encoder_cdcgan")  # a second grid for the second contract
    assert cv2.imread(str(run / "loss_curves.png")) is not None
    export = tmp_path / "export"
    assert main(["export", str(run), "--out", str(export)]) == 0
    card = json.loads((export / "signature.json").read_text())
    assert card["model"]["type"] == family
    expected_tasks = ["age_transformer", "sampler"] if family == "encoder_cdcgan" else ["sampler"]
    assert card["model"]["tasks"] == expected_tasks

    import tensorflow as tf

    signatures = tf.saved_model.load(str(export)).signatures
    sample = signatures["sample" if family == "encoder_cdcgan" else "serving_default"]
    ages = {"target_age": tf.constant(45.0)} if family == "encoder_cdcgan" else {}
    first = sample(seed=tf.constant(3), num_images=tf.constant(5), **ages)["images"].numpy()
    again = sample(seed=tf.constant(3), num_images=tf.constant(5), **ages)["images"].numpy()
    assert first.shape == (5, 32, 32, 3) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, again)

    summaries = evaluate(export, tmp_path / "evaluation", count=8, baselines=("untrained",),
                         metrics=Metrics(age_estimator=FakeAges(), exact_truth=family == "encoder_cdcgan"),
                         verbose=False)
    sampler_key = "model/sampler"
    sampled = summaries[sampler_key]
    measured = sampled.loc[sampled.real_images >= 2, "swd"]  # SWD needs two real test faces of the group
    assert len(measured) >= 1 and np.isfinite(measured).all() and (measured > 0).all()
    assert sampled.loc[sampled.real_images < 2, "swd"].isna().all()
    assert (tmp_path / "evaluation" / ("sampler" if family == "encoder_cdcgan" else "") / "samples.png").is_file()
    assert "untrained" in (tmp_path / "evaluation" / "comparison.md").read_text()
    if family == "encoder_cdcgan":
        assert "model" in summaries and np.isfinite(summaries["model"].loc["overall", "swd"])
    else:
        photo = tmp_path / "face.png"
        cv2.imwrite(str(photo), np.zeros((64, 64, 3), np.uint8))
        assert main(["age", str(photo), "--model", str(export), "--out", str(tmp_path / "aged")]) == 2
        assert "sampler: it draws new faces and cannot age a photo" in capsys.readouterr().err
