"""SIGKILL at any moment, then the same command again: the run ends bit-identical to one never killed.

Each kill is a real `kill -9` of a `ragan-tf train` process (no cleanup
runs), at named points of training (`ragan_tf.training.failpoints`): in the
middle of an epoch, after a backup's weights or metadata were written but
before they were renamed into place, and during the final save; and (opt-in,
`-m slow`) at random moments. The resumed runs must end with exactly the final weights,
EMA generator and history of an uninterrupted run in the deterministic
mode; the uninterrupted run also builds the dataset (a first run) while the
killed ones find it built (later runs).
"""

import csv
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "pipelines" / "ragan_synthetic_tiny.yaml"
EPOCHS, STEPS = 3, 3

# The real command, with the tests' graph-optimizer setting (conftest.py): same code path, faster start.
DRIVER = (
    "import sys, tensorflow as tf; tf.config.optimizer.set_experimental_options({'disable_meta_optimizer': True}); "
    "from ragan_tf.cli import main; sys.exit(main(sys.argv[1:]))"
)


def train_command(run_dir, data_dir):
    overrides = {"runtime.run_dir": run_dir, "data.data_dir": data_dir, "runtime.deterministic": "true",
                 "training.epochs": EPOCHS, "training.steps_per_epoch": STEPS, "training.sample_every_steps": 0}
    command = [sys.executable, "-c", DRIVER, "train", str(TINY)]
    for key, value in overrides.items():
        command += ["--set", f"{key}={value}"]
    return command


def run(command, kill_at=None, kill_after=None):
    """Runs `command`; SIGKILLs it at the failpoint `kill_at` or after `kill_after` seconds."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "-1", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    env.pop("RAGAN_TF_KILL_AT", None)
    if kill_at:
        env["RAGAN_TF_KILL_AT"] = kill_at
    process = subprocess.Popen(command, env=env, cwd=REPO.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    if kill_after is not None:
        try:
            process.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
    output = process.communicate(timeout=600)[0]
    return process.returncode, output


def weights(path):
    """{dataset path: array} of a Keras weights file."""
    arrays = {}
    with h5py.File(path, "r") as file:
        file.visititems(lambda name, item: arrays.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
    return arrays


def history(run_dir):
    with open(Path(run_dir) / "history.csv") as handle:
        return [{key: value for key, value in row.items()} for row in csv.DictReader(handle)]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    root = tmp_path_factory.mktemp("uninterrupted")
    started = time.time()
    code, output = run(train_command(root / "run", root / "tfds"))  # builds the dataset: a first run
    assert code == 0, output
    return root, time.time() - started


def assert_same_run(run_dir, reference_dir):
    expected, got = weights(reference_dir / "final.weights.h5"), weights(run_dir / "final.weights.h5")
    assert expected.keys() == got.keys() and len(expected) > 50
    different = [name for name in expected if not np.array_equal(expected[name], got[name])]
    assert not different, f"{len(different)} of {len(expected)} arrays differ, e.g. {different[:3]}"
    assert [row["epoch"] for row in history(run_dir)] == [str(epoch) for epoch in range(EPOCHS)]
    reference_rows, rows = history(reference_dir), history(run_dir)
    assert [row["g_loss"] for row in rows] == [row["g_loss"] for row in reference_rows]


def killed_at_then_finished(points, reference, run_dir):
    """Kills the command at each failpoint of `points` in turn (each run resumes the last), then runs it
    to the end; the run must equal the uninterrupted one."""
    command = train_command(run_dir, reference / "tfds")
    for point in points:
        code, output = run(command, kill_at=point)
        assert code == -signal.SIGKILL, f"{point}: not killed (exit {code}):\n{output[-2000:]}"
    code, output = run(command)
    assert code == 0, output
    assert_same_run(run_dir, reference / "run")


# Epoch e's backup is written after its last step (e * STEPS); the final save follows epoch EPOCHS.
def test_killed_at_named_points_resumes_bit_identical(uninterrupted, tmp_path):
    killed_at_then_finished([
        "train_step:2",          # mid epoch 1, before any epoch backup: resumes from the starting point
        "backup_metadata:2",     # epoch 2's weights in place, its metadata not: epoch 1 is the newest
        "final_weights:0",       # during the final save, after the last epoch's backup
    ], uninterrupted[0], tmp_path / "run")


@pytest.mark.slow
def test_killed_at_more_named_points_resumes_bit_identical(uninterrupted, tmp_path):
    killed_at_then_finished([
        "backup_weights:1",      # epoch 1's weights flushed, not renamed: epoch 0 is still the newest
        "backup_metadata:1",
        "inference_model:0",     # the final weights written, the inference model not
    ], uninterrupted[0], tmp_path / "run")


@pytest.mark.slow
def test_killed_at_random_moments_resumes_bit_identical(uninterrupted, tmp_path):
    reference, duration = uninterrupted
    command = train_command(tmp_path / "run", reference / "tfds")
    rng = random.Random(int(os.environ.get("CRASH_TEST_SEED", "2026")))
    kills = 0
    for _ in range(3):  # kills spread over a run's length (which includes the start-up)
        code, output = run(command, kill_after=rng.uniform(0.3, 0.8) * duration)
        kills += code == -signal.SIGKILL
        if code == 0:
            break
    code, output = run(command)
    assert code == 0, output
    assert kills >= 1
    assert_same_run(tmp_path / "run", reference / "run")
