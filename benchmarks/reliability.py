"""What the reliability machinery costs: deterministic mode, the per-step numeric guard, backups.

    python benchmarks/reliability.py [--pipeline pipelines/ragan_synthetic_quickstart.yaml] [--steps 40] [--rounds 2]

Runs the pipeline's training model for `--steps` steps in fresh processes,
alternating default and `runtime.deterministic: true` (op determinism cannot
be switched off inside a process), `--rounds` times each, and prints the
median step time of each mode (the first 5 steps, tracing and warm-up, are
left out) and their ratio; in each process also the time of the numeric
guard's loss check per step, of one backup write (`RunBackup.save`) and of
one restore, and the size of a backup. Compare ratios within one run: the
machine's load changes between runs.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WARMUP = 5


def measure(pipeline, steps, deterministic, data_dir):
    """One process's figures (run with `--child`)."""
    import keras
    import tensorflow as tf

    from ragan_tf.config import load_config
    from ragan_tf.data.pipeline import make_dataset
    from ragan_tf.training.backup import RunBackup, TrainingState
    from ragan_tf.training.callbacks import non_finite_losses
    from ragan_tf.training.train import build_training_model

    overrides = [f"runtime.deterministic={str(deterministic).lower()}"] + ([f"data.data_dir={data_dir}"] if data_dir else [])
    config = load_config(pipeline, overrides)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(0)
    model = build_training_model(config, tf.distribute.get_strategy())
    batches = iter(make_dataset(config.data, "train", config.training.batch_size, True, steps_per_epoch=steps))
    step_times, guard_times = [], []
    train_step = tf.function(model.train_step)
    for _ in range(steps):
        batch = next(batches)
        started = time.perf_counter()
        logs = train_step(batch)
        float(logs["g_loss"])  # wait for the step
        step_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        non_finite_losses(model, logs)
        guard_times.append(time.perf_counter() - started)
    with tempfile.TemporaryDirectory() as folder:
        backup = RunBackup(Path(folder) / "backup")
        started = time.perf_counter()
        backup.save(model, TrainingState(epoch=1, step=steps))
        save_seconds = time.perf_counter() - started
        size = sum(path.stat().st_size for path in backup.directory.iterdir())
        started = time.perf_counter()
        backup.restore(model, report=lambda message: None)
        restore_seconds = time.perf_counter() - started
    return {"step": statistics.median(step_times[WARMUP:]), "guard": statistics.median(guard_times[WARMUP:]),
            "save": save_seconds, "restore": restore_seconds, "backup_mb": size / 2**20}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", default=str(REPO / "pipelines" / "ragan_synthetic_quickstart.yaml"))
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--data-dir", help="data.data_dir (default: the pipeline's)")
    parser.add_argument("--child", choices=["default", "deterministic"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.pipeline, args.steps, args.child == "deterministic", args.data_dir)))
        return
    results = {"default": [], "deterministic": []}
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "-1"}
    for round_index in range(args.rounds):
        for mode in results:
            command = [sys.executable, __file__, "--child", mode, "--pipeline", args.pipeline, "--steps", str(args.steps)]
            if args.data_dir:
                command += ["--data-dir", args.data_dir]
            output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
            results[mode].append(json.loads(output.strip().splitlines()[-1]))
            print(f"round {round_index + 1} {mode}: {results[mode][-1]}", flush=True)
    median = {mode: {key: statistics.median(run[key] for run in runs) for key in runs[0]} for mode, runs in results.items()}
    default, deterministic = median["default"], median["deterministic"]
    print(f"\n{Path(args.pipeline).name}, {args.steps} steps x {args.rounds} rounds per mode (medians)")
    print("| figure | default | deterministic |\n| --- | --- | --- |")
    print(f"| train step (s) | {default['step']:.3f} | {deterministic['step']:.3f} "
          f"({deterministic['step'] / default['step']:.2f}x) |")
    for key, label in (("guard", "loss check per step (ms)"), ("save", "backup write (s)"),
                       ("restore", "backup restore (s)"), ("backup_mb", "backup size (MiB)")):
        scale = 1000 if key == "guard" else 1
        print(f"| {label} | {default[key] * scale:.3g} | {deterministic[key] * scale:.3g} |")
    print(f"| guard / step | {default['guard'] / default['step']:.2%} | |")


if __name__ == "__main__":
    main()
