import json

import pytest
import tensorflow as tf

from ragan_tf.config import ConfigError, RuntimeConfig
from ragan_tf.training.strategy import make_strategy


def test_default_and_mirrored_strategies():
    assert make_strategy(RuntimeConfig(strategy="default")) is tf.distribute.get_strategy()
    mirrored = make_strategy(RuntimeConfig(strategy="mirrored"))
    assert isinstance(mirrored, tf.distribute.MirroredStrategy)
    assert mirrored.num_replicas_in_sync >= 1


def test_multi_worker_needs_tf_config_and_explains_the_keras_limitation(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="needs the TF_CONFIG environment variable"):
        make_strategy(RuntimeConfig(strategy="multi_worker"))
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ConfigError, match="TF_CONFIG is not valid JSON"):
        make_strategy(RuntimeConfig(strategy="multi_worker"))
    cluster = {"cluster": {"worker": ["127.0.0.1:12345", "127.0.0.1:12346"]}, "task": {"type": "worker", "index": 0}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(cluster))
    with pytest.raises(ConfigError, match="runtime.strategy=mirrored"):
        make_strategy(RuntimeConfig(strategy="multi_worker"))
