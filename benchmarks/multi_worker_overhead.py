"""Multi-worker training on one machine: step time of 1 process vs N local workers, and the all-reduce share.

Every setting trains the same model (a pipeline, by default the quick start)
with the same global batch on a fixed random batch (so the input pipeline is
not measured), through the loop multi-worker training uses
(`ragan_tf.training.distributed_loop.fit_in_loop`), after warm-up steps:

- `1 process`: the default strategy, all CPU threads;
- `1 worker`: `MultiWorkerMirroredStrategy` with a one-worker cluster (the
  strategy's own cost, no peer);
- `N workers`: N processes on 127.0.0.1 (`TF_CONFIG` and thread counts as
  `ragan-tf train --local-workers N` sets them), each with 1/N of the CPU
  threads and 1/N of the global batch.

The all-reduce share: each worker also times, in a compiled loop, an
all-reduce of tensors shaped like the generator's and the discriminator's
trainable variables (what the two optimizers all-reduce in each step),
each call from Python as a step's, divided by the measured step time.

On one machine N workers share the same cores that one process uses, so
this measures the overhead of the multi-worker path (collectives, N copies
of the model's bookkeeping), not a speed-up; a speed-up needs N machines.

    python benchmarks/multi_worker_overhead.py                  # quick start, 1 vs 2 workers
    python benchmarks/multi_worker_overhead.py --workers 2 4 --steps 20
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

PIPELINE = Path(__file__).resolve().parents[1] / "pipelines" / "ragan_synthetic_quickstart.yaml"
RESULT_PREFIX = "RESULT "


def worker(args):
    """One process of one setting: prints `RESULT {json}` when it is the chief (or alone)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np
    import tensorflow as tf

    from ragan_tf.config import load_config
    from ragan_tf.training.distributed_loop import fit_in_loop
    from ragan_tf.training.strategy import is_multi_worker, worker_role
    from ragan_tf.training.train import build_training_model

    multi = "TF_CONFIG" in os.environ
    strategy = tf.distribute.MultiWorkerMirroredStrategy() if multi else tf.distribute.get_strategy()
    config = load_config(args.pipeline, [f"data.image_size={args.size}"])
    model = build_training_model(config, strategy)
    global_batch = config.training.batch_size
    per_replica = global_batch // strategy.num_replicas_in_sync
    rng = np.random.default_rng(0)
    size = config.data.image_size
    batch = {
        "image": rng.uniform(-1, 1, (per_replica, size, size, 3)).astype(np.float32),
        "face_mask": (rng.uniform(size=(per_replica, size, size, 1)) > 0.3).astype(np.float32),
        "age_group": rng.integers(0, config.data.num_age_groups, per_replica).astype(np.int32),
    }
    data = strategy.distribute_datasets_from_function(lambda _: tf.data.Dataset.from_tensors(batch).repeat())
    class StepTimes(keras.callbacks.Callback):
        times = []

        def on_train_batch_end(self, batch, logs=None):
            self.times.append(time.perf_counter())

    # One call, as in training (each call traces its step function anew): time the steps after the warm-up.
    timer = StepTimes()
    fit_in_loop(model, strategy, data, epochs=1, initial_epoch=0, steps_per_epoch=args.warmup + args.steps,
                callbacks=[timer], verbose=0)
    step_seconds = (timer.times[-1] - timer.times[args.warmup - 1]) / args.steps

    reduce_seconds = 0.0
    if is_multi_worker(strategy):
        shapes = [v.shape for v in model.generator.trainable_variables + model.discriminator.trainable_variables]

        tensors = [tf.ones(shape) for shape in shapes]

        @tf.function
        def all_reduce():  # one all-reduce of every trainable variable's shape, as the two optimizers do
            return strategy.run(lambda: tf.distribute.get_replica_context().all_reduce("SUM", tensors)[0])

        all_reduce()
        all_reduce()
        start = time.perf_counter()
        for _ in range(args.steps):
            all_reduce()
        strategy.experimental_local_results(all_reduce())[0].numpy()
        reduce_seconds = (time.perf_counter() - start) / (args.steps + 1)
    role = worker_role(strategy)
    if role.is_chief:
        floats = sum(int(np.prod(shape)) for shape in
                     (v.shape for v in model.generator.trainable_variables + model.discriminator.trainable_variables))
        print(RESULT_PREFIX + json.dumps({
            "replicas": strategy.num_replicas_in_sync, "step_seconds": step_seconds, "global_batch": global_batch,
            "reduce_seconds": reduce_seconds, "reduced_floats": floats,
            "threads": os.environ.get("TF_NUM_INTRAOP_THREADS", "all")}), flush=True)


def run_setting(args, workers, multi):
    """Runs one setting as `workers` processes; returns the chief's result."""
    from ragan_tf.training.local_cluster import free_ports, worker_environment

    command = [sys.executable, __file__, "--role", "worker", "--pipeline", str(args.pipeline),
               "--size", str(args.size), "--steps", str(args.steps), "--warmup", str(args.warmup)]
    if multi:
        addresses = [f"127.0.0.1:{port}" for port in free_ports(workers)]
        environments = [worker_environment(index, addresses) for index in range(workers)]
    else:
        environments = [{key: value for key, value in os.environ.items() if key != "TF_CONFIG"}]
    processes = [subprocess.Popen(command, env={**environment, "CUDA_VISIBLE_DEVICES": "-1"},
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for environment in environments]
    outputs = [process.communicate()[0] for process in processes]
    for process, output in zip(processes, outputs):
        if process.returncode != 0:
            raise SystemExit(f"a worker of the {workers}-worker setting failed:\n{output[-3000:]}")
    lines = [line for line in outputs[0].splitlines() if line.startswith(RESULT_PREFIX)]
    return json.loads(lines[-1][len(RESULT_PREFIX):])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", type=Path, default=PIPELINE)
    parser.add_argument("--size", type=int, default=64, help="image size (px)")
    parser.add_argument("--workers", type=int, nargs="+", default=[2], help="cluster sizes to time")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per setting")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--role", choices=["parent", "worker"], default="parent", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "worker":
        return worker(args)

    print(f"{args.pipeline.name}, {args.size} px, {args.steps} timed steps after {args.warmup}; "
          f"{os.cpu_count()} CPU cores; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
          f"load average {os.getloadavg()[0]:.2f} at the start")
    settings = [("1 process (default strategy)", 1, False), ("1 worker (MultiWorkerMirroredStrategy)", 1, True)]
    settings += [(f"{count} workers", count, True) for count in args.workers]
    rows, base = [], None
    for name, count, multi in settings:
        result = run_setting(args, count, multi)
        base = base or result["step_seconds"]
        share = result["reduce_seconds"] / result["step_seconds"]
        rows.append(f"| {name} | {result['replicas']} | {result['threads']} | {result['global_batch']} "
                    f"| {result['step_seconds']:.3f} | {result['global_batch'] / result['step_seconds']:.1f} "
                    f"| {result['step_seconds'] / base:.2f}x | "
                    + (f"{result['reduce_seconds'] * 1e3:.1f} ms ({share:.1%})" if multi and count > 1 else "none")
                    + " |")
        print(f"{name}: {result}", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f} at the end; all-reduced floats per step: "
          f"{result['reduced_floats']:,}")
    print("| setting | replicas | intra-op threads each | global batch | s/step | images/s | step time vs 1 process "
          "| all-reduce per step (share of step) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
