"""Multi-worker training with real worker processes on 127.0.0.1 (`ragan-tf train --local-workers 2`).

Two workers of `MultiWorkerMirroredStrategy` with the global batch of one
process must train the same model as that process: each worker reads the
whole stream and trains on its rows of each global batch
(`data.worker_input=global_batch`), batch statistics are synchronised
(`model.sync_batch_norm=true`), and the gradients are all-reduced. And a
cluster whose worker is killed mid-run must resume, after the same command
again, from the chief's last backup, and still end with that model.

Tolerance. The only arithmetic that differs from one process is the order
of the gradient sums (each worker's partial sum, then the all-reduce), which
perturbs each gradient at float32 rounding (relative ~1e-7). Over six Adam
steps of a GAN the weights then differ by ~1e-7 (measured: 1.6e-7 at most,
on weights up to 10). A real defect (each worker using its own half batch,
a missing all-reduce, different data, a wrong resume point) changes the
weights by a fair part of what an epoch moves them. So the test bounds
each array's difference from one process by 1e-3 of how far the last
epoch moved it: about four decades above rounding, far below a defect.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.test_crash_resume import DRIVER, history, weights

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "pipelines" / "ragan_synthetic_tiny.yaml"
EPOCHS, STEPS = 2, 3
RELATIVE_TOLERANCE = 1e-3


def command(run_dir, data_dir, workers=0):
    overrides = {"runtime.run_dir": run_dir, "data.data_dir": data_dir, "runtime.deterministic": "true",
                 "training.epochs": EPOCHS, "training.steps_per_epoch": STEPS, "training.sample_every_steps": 0,
                 "data.worker_input": "global_batch", "model.sync_batch_norm": "true"}
    arguments = [sys.executable, "-c", DRIVER, "train", str(TINY)]
    for key, value in overrides.items():
        arguments += ["--set", f"{key}={value}"]
    return arguments + (["--local-workers", str(workers)] if workers else [])


def run(arguments, kill_worker=None, kill_at=None):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "-1", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    for name in ("RAGAN_TF_KILL_AT", "RAGAN_TF_KILL_WORKER", "TF_CONFIG"):
        env.pop(name, None)
    if kill_at:
        env.update(RAGAN_TF_KILL_AT=kill_at, RAGAN_TF_KILL_WORKER=str(kill_worker))
    result = subprocess.run(arguments, env=env, cwd=REPO.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, timeout=900)
    return result.returncode, result.stdout


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    root = tmp_path_factory.mktemp("one_process")
    code, output = run(command(root / "run", root / "tfds"))
    assert code == 0, output
    return root


def assert_same_model(run_dir, reference_dir):
    """`run_dir`'s final weights equal `reference_dir`'s, to `RELATIVE_TOLERANCE` of each array's last-epoch update."""
    before, reference = (weights(reference_dir / "backup" / f"epoch-{EPOCHS - 1:06d}.weights.h5"),
                         weights(reference_dir / "final.weights.h5"))
    got = weights(run_dir / "final.weights.h5")
    assert got.keys() == reference.keys() and len(reference) > 50
    trained = 0
    for name, expected in reference.items():
        if name not in before or expected.dtype.kind != "f":
            continue
        scale = np.linalg.norm(expected - before[name])
        trained += scale > 0
        difference = np.linalg.norm(got[name] - expected)
        assert difference <= RELATIVE_TOLERANCE * scale, (
            f"{name}: differs from one process by {difference:.3g}; its last epoch moved it by {scale:.3g}")
    assert trained > 30  # the comparison saw training, not only untouched arrays
    assert [row["epoch"] for row in history(run_dir)] == [str(epoch) for epoch in range(EPOCHS)]


def test_two_local_workers_train_the_model_of_one_process_with_the_same_global_batch(one_process, tmp_path):
    code, output = run(command(tmp_path / "run", one_process / "tfds", workers=2))
    assert code == 0, output
    assert "Worker 0 of 2 (chief): 2 replicas, global batch 4." in output
    assert "All 2 workers finished" in output
    assert_same_model(tmp_path / "run", one_process / "run")


def test_a_killed_worker_stops_the_cluster_and_the_rerun_resumes_from_the_last_backup(one_process, tmp_path):
    arguments = command(tmp_path / "run", one_process / "tfds", workers=2)
    # Worker 1 (not the chief) dies after step 4, in epoch 2: the chief's epoch-1 backup exists.
    code, output = run(arguments, kill_worker=1, kill_at="train_step:4")
    assert code != 0
    assert f"Worker 1 exited with code {-signal.SIGKILL}; stopped the other workers." in output
    assert not (tmp_path / "run" / "final.weights.h5").exists()
    code, output = run(arguments)
    assert code == 0, output
    assert f": 1 of {EPOCHS} epochs done" in output and "Resuming from the backup in" in output
    assert_same_model(tmp_path / "run", one_process / "run")
