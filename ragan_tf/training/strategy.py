"""Picking a `tf.distribute` strategy from `runtime.strategy`."""

import json
import os

import tensorflow as tf

from ragan_tf.config import ConfigError


MULTI_WORKER_FIT_BUG = (
    "runtime.strategy=multi_worker is not supported: Keras 3 Model.fit under "
    "MultiWorkerMirroredStrategy fails as shipped (TF 2.21 / Keras 3.15: 'Attempt to convert a "
    "value (PerReplica...) to a Tensor', even for a built-in Sequential model). Train on one host "
    "with runtime.strategy=mirrored (all its GPUs) or on a TPU slice with runtime.strategy=tpu."
)


def make_strategy(runtime_config):
    """The strategy `runtime_config.strategy` names.

    - `default`: the default (one device) strategy.
    - `mirrored`: `MirroredStrategy` over every local GPU (or the CPU).
    - `tpu`: connects to `runtime_config.tpu` ("" = the Colab/Cloud TPU
      attached to this VM, "local" for a TPU VM) and returns a `TPUStrategy`.
    - `multi_worker`: refused with an explanation (see `MULTI_WORKER_FIT_BUG`)
      after checking `TF_CONFIG`.
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
        try:
            json.loads(os.environ["TF_CONFIG"])
        except ValueError as error:
            raise ConfigError(f"TF_CONFIG is not valid JSON: {error}") from None
        raise ConfigError(MULTI_WORKER_FIT_BUG)
    raise ConfigError(f"Unknown runtime.strategy {name!r}.")
