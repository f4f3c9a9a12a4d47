import json

import pytest
import tensorflow as tf
from conftest import TINY_PIPELINE

from ragan_tf.config import ConfigError, RuntimeConfig, load_config
from ragan_tf.training.strategy import WorkerRole, cluster_spec_from_environment, make_strategy, worker_role


def test_default_and_mirrored_strategies():
    assert make_strategy(RuntimeConfig(strategy="default")) is tf.distribute.get_strategy()
    mirrored = make_strategy(RuntimeConfig(strategy="mirrored"))
    assert isinstance(mirrored, tf.distribute.MirroredStrategy)
    assert mirrored.num_replicas_in_sync >= 1


def test_multi_worker_checks_tf_config_with_one_line_errors(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="needs the TF_CONFIG environment variable"):
        make_strategy(RuntimeConfig(strategy="multi_worker"))
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ConfigError, match="TF_CONFIG is not valid JSON"):
        make_strategy(RuntimeConfig(strategy="multi_worker"))
    workers = ["127.0.0.1:12345", "127.0.0.1:12346"]
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": workers}}))
    with pytest.raises(ConfigError, match="needs a 'cluster' and a 'task'"):
        make_strategy(RuntimeConfig(strategy="multi_worker"))
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": 2}}))
    with pytest.raises(ConfigError, match="is not a member of the cluster"):
        make_strategy(RuntimeConfig(strategy="multi_worker"))
    spec = {"cluster": {"worker": workers, "ps": ["127.0.0.1:12347"]}, "task": {"type": "ps", "index": 0}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(spec))
    with pytest.raises(ConfigError, match="cannot train"):
        make_strategy(RuntimeConfig(strategy="multi_worker"))


def test_cluster_spec_from_environment_accepts_a_valid_spec(monkeypatch):
    spec = {"cluster": {"chief": ["127.0.0.1:1"], "worker": ["127.0.0.1:2"]}, "task": {"type": "worker", "index": 0}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(spec))
    assert cluster_spec_from_environment() == spec


def test_one_process_is_its_own_chief_and_writes_the_run_folder(tmp_path):
    role = worker_role(tf.distribute.get_strategy())
    assert role == WorkerRole(index=0, count=1, is_chief=True)
    assert role.write_dir(tmp_path) == tmp_path
    scratch = WorkerRole(index=1, count=2, is_chief=False).write_dir(tmp_path)
    assert scratch.is_dir() and tmp_path not in scratch.parents
    scratch.rmdir()


def test_a_global_batch_that_does_not_divide_by_the_replicas_is_refused_before_training(tmp_path):
    from ragan_tf.training.train import train

    config = load_config(TINY_PIPELINE, ["runtime.strategy=mirrored", "training.batch_size=3",
                                         f"runtime.run_dir={tmp_path / 'run'}", f"data.data_dir={tmp_path / 'tfds'}"])
    with pytest.raises(ConfigError, match=r"training.batch_size=3 is the global batch and must divide by the 2 "
                                          r"replicas of runtime.strategy=mirrored\.$"):
        train(config)
    assert not (tmp_path / "run" / "backup").exists()
