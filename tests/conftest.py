"""Test session setup: CPU only, two logical CPU devices for distribution tests."""

import os

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402  (after the environment above)

# MirroredStrategy tests need two devices; this must run before TF initialises.
_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

# Grappler's graph rewrites cost more than they save on the tests' tiny,
# few-step models (a tiny RAGAN train step: first call 15.8 s with them,
# 2.0 s without); training outside the tests keeps them.
tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
