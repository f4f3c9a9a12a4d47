"""Picking a `tf.distribute` strategy from `runtime.strategy`."""

import json
import os

import tensorflow as tf

from ragan_tf.config import ConfigError


def make_strategy(runtime_config):
    """The strategy `runtime_config.strategy` names.

    - `default`: the default (one device) strategy.
    - `mirrored`: `MirroredStrategy` over every local GPU (or the CPU).
    - `tpu`: connects to `runtime_config.tpu` ("" = the Colab/Cloud TPU
      attached to this VM, "local" for a TPU VM) and returns a `TPUStrategy`.
    - `multi_worker`: `MultiWorkerMirroredStrategy` from `TF_CONFIG`.
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
        if "TF_CONFIG" not in os.environ:
            raise ConfigError(
                "runtime.strategy=multi_worker needs the TF_CONFIG environment variable "
                "(cluster spec and this worker's task), see "
                "https://www.tensorflow.org/guide/distributed_training#TF_CONFIG."
            )
        json.loads(os.environ["TF_CONFIG"])  # a clear JSON error before TF's own
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ConfigError(f"Unknown runtime.strategy {name!r}.")
