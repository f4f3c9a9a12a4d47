"""`ragan-tf train PIPELINE --local-workers N`: a multi-worker cluster on this machine.

Starts N `ragan-tf train` worker processes with `runtime.strategy=multi_worker`
and a `TF_CONFIG` each (workers on free 127.0.0.1 ports, worker 0 the chief),
streams the chief's output, keeps each other worker's output in a log file,
and when one worker fails stops all of them (a cluster with a missing worker
waits forever in its collectives) and says so. Rerunning the same command
resumes every worker from the chief's last backup, as for one process.

Each worker gets `TF_NUM_INTRAOP_THREADS` = CPU cores // N (unless set), so N
workers on one machine share its cores instead of oversubscribing them.
Fault injection for the tests: `RAGAN_TF_KILL_AT` (`ragan_tf.training.failpoints`)
reaches only worker `RAGAN_TF_KILL_WORKER` when that is set.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ragan_tf.config import ConfigError
from ragan_tf.training import failpoints

KILL_WORKER_VARIABLE = "RAGAN_TF_KILL_WORKER"
STOP_GRACE_SECONDS = 10


def free_ports(count):
    """`count` distinct TCP ports free on 127.0.0.1 now."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def worker_environment(index, addresses, base=None):
    """The environment of worker `index`: `TF_CONFIG`, thread counts, the failpoint when it is aimed at it."""
    environment = dict(os.environ if base is None else base)
    environment["TF_CONFIG"] = json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}})
    threads = str(max(1, (os.cpu_count() or 1) // len(addresses)))
    environment.setdefault("TF_NUM_INTRAOP_THREADS", threads)
    environment.setdefault("TF_NUM_INTEROP_THREADS", threads)
    target = environment.get(KILL_WORKER_VARIABLE)
    if target is not None and target != str(index):
        environment.pop(failpoints.ENVIRONMENT_VARIABLE, None)
    return environment


def prepare_data(pipeline, overrides):
    """Builds what every worker would otherwise build at once (the synthetic dataset) and checks the
    config, in this process, before any worker starts."""
    from ragan_tf.config import load_config
    from ragan_tf.training.train import steps_per_epoch

    config = load_config(pipeline, overrides)
    config.validate()
    steps_per_epoch(config)
    return config


def run_local_workers(pipeline, overrides, workers, verbose=False, report=print):
    """Runs `ragan-tf train pipeline --set ...` as a cluster of `workers` local processes.

    Returns:
        0 when every worker finished, else the exit code of the first worker that failed.
    """
    if workers < 1:
        raise ConfigError(f"--local-workers must be at least 1, got {workers}.")
    overrides = [*overrides, "runtime.strategy=multi_worker"]
    config = prepare_data(pipeline, overrides)
    addresses = [f"127.0.0.1:{port}" for port in free_ports(workers)]
    command = [sys.executable, "-m", "ragan_tf", *(["--verbose"] if verbose else []), "train", pipeline]
    for override in overrides:
        command += ["--set", override]
    logs = Path(tempfile.mkdtemp(prefix="ragan_tf_workers_"))
    report(f"Starting {workers} local workers ({', '.join(addresses)}); worker 0 is the chief, its output follows. "
           f"Other workers' output: {logs}/worker_N.log.", flush=True)
    processes = []
    try:
        for index in range(workers):
            log = None if index == 0 else open(logs / f"worker_{index}.log", "w")
            processes.append((subprocess.Popen(command, env=worker_environment(index, addresses),
                                               stdout=log, stderr=subprocess.STDOUT if log else None), log))
        failed = _wait(processes)
    except KeyboardInterrupt:
        _stop(processes)
        raise
    finally:
        for _, log in processes:
            if log is not None:
                log.close()
    if failed is None:
        report(f"All {workers} workers finished; run folder {config.runtime.run_dir}.", flush=True)
        return 0
    index, code = failed
    tail = _tail(logs / f"worker_{index}.log") if index else ""
    report(f"Worker {index} exited with code {code}; stopped the other workers. Rerun the same command to resume "
           f"from the last backup in {config.runtime.run_dir}/backup." + (f"\nIts last lines:\n{tail}" if tail else ""),
           flush=True)
    return code or 1


def _wait(processes):
    """Waits for all; on the first nonzero exit stops the rest and returns `(index, code)`."""
    while True:
        running = False
        for index, (process, _) in enumerate(processes):
            code = process.poll()
            if code is None:
                running = True
            elif code != 0:
                _stop(processes)
                return index, code
        if not running:
            return None
        time.sleep(0.2)


def _stop(processes):
    for process, _ in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process, _ in processes:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _tail(path, lines=15):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
