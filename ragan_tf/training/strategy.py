"""Picking a `tf.distribute` strategy from `runtime.strategy`, and this process's place in a cluster."""

import dataclasses
import json
import os
import tempfile
from pathlib import Path

import tensorflow as tf

from ragan_tf.config import ConfigError

TF_CONFIG_GUIDE = "https://www.tensorflow.org/guide/distributed_training#TF_CONFIG"


def cluster_spec_from_environment():
    """`TF_CONFIG` parsed and checked: `{"cluster": {"worker": [...], ...}, "task": {"type", "index"}}`."""
    text = os.environ.get("TF_CONFIG")
    if text is None:
        raise ConfigError(
            "runtime.strategy=multi_worker needs the TF_CONFIG environment variable (cluster spec and this "
            f"worker's task), see {TF_CONFIG_GUIDE}; `ragan-tf train PIPELINE --local-workers 2` sets it for "
            "workers on this machine."
        )
    try:
        spec = json.loads(text)
    except ValueError as error:
        raise ConfigError(f"TF_CONFIG is not valid JSON: {error}") from None
    cluster, task = (spec.get("cluster"), spec.get("task")) if isinstance(spec, dict) else (None, None)
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise ConfigError(f"TF_CONFIG needs a 'cluster' and a 'task' object, see {TF_CONFIG_GUIDE}.")
    task_type, index = task.get("type"), task.get("index")
    members = cluster.get(task_type)
    if not isinstance(members, list) or not isinstance(index, int) or not 0 <= index < len(members):
        raise ConfigError(f"TF_CONFIG: task {task!r} is not a member of the cluster {sorted(cluster)}.")
    if task_type not in ("chief", "worker"):
        raise ConfigError(f"TF_CONFIG: task type {task_type!r} cannot train; MultiWorkerMirroredStrategy runs "
                          "'chief' and 'worker' tasks (no parameter servers).")
    return spec


def make_strategy(runtime_config):
    """The strategy `runtime_config.strategy` names.

    - `default`: the default (one device) strategy.
    - `mirrored`: `MirroredStrategy` over every local GPU (or the CPU).
    - `tpu`: connects to `runtime_config.tpu` ("" = the Colab/Cloud TPU
      attached to this VM, "local" for a TPU VM) and returns a `TPUStrategy`.
    - `multi_worker`: `MultiWorkerMirroredStrategy` over the cluster that the
      `TF_CONFIG` environment variable describes (checked first). It must be
      created before TensorFlow runs anything else in the process; `train`
      does that. Keras `fit` does not run under it (keras-team/keras#20585),
      so `train` drives the same `train_step` with its own loop
      (`ragan_tf.training.distributed_loop`).
    """
    name = runtime_config.strategy
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=runtime_config.tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    if name == "multi_worker":
        cluster_spec_from_environment()
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ConfigError(f"Unknown runtime.strategy {name!r}.")


def is_multi_worker(strategy):
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


@dataclasses.dataclass(frozen=True)
class WorkerRole:
    """This process's place in the cluster: `index` of `count` training tasks; the chief writes the
    run folder, the others write the same files to a scratch folder that is deleted at the end (TF's
    multi-worker guide: every worker must save, because saving reads variables collectively)."""

    index: int = 0
    count: int = 1
    is_chief: bool = True

    def write_dir(self, run_dir):
        """The folder this task writes its run files to: `run_dir` for the chief, a scratch folder otherwise."""
        if self.is_chief:
            return Path(run_dir)
        return Path(tempfile.mkdtemp(prefix=f"ragan_tf_worker{self.index}_"))


def worker_role(strategy):
    """The `WorkerRole` of this process under `strategy` (one process outside multi-worker training)."""
    if not is_multi_worker(strategy):
        return WorkerRole()
    resolver = strategy.cluster_resolver
    task_type, index = resolver.task_type, resolver.task_id
    cluster = resolver.cluster_spec().as_dict()
    tasks = [(kind, position) for kind in ("chief", "worker") for position in range(len(cluster.get(kind, ())))]
    # The chief is the `chief` task, or worker 0 when the cluster has none (TF's convention).
    chief = ("chief", 0) if "chief" in cluster else ("worker", 0)
    return WorkerRole(index=tasks.index((task_type, index)), count=len(tasks), is_chief=(task_type, index) == chief)
