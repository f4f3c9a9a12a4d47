"""Test session setup: CPU only, two logical CPU devices for distribution tests."""

import os

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402  (after the environment above)

# MirroredStrategy tests need two devices; this must run before TF initialises.
_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)


def two_cpu_strategy():
    """The one `MirroredStrategy` over the two logical CPUs that every test shares: two strategy
    instances in one process allocate the same collective instance keys, and the second one's
    batch-norm all-reduces then fail with "Shape mismatch in the collective instance"."""
    global _TWO_CPU_STRATEGY
    if _TWO_CPU_STRATEGY is None:
        _TWO_CPU_STRATEGY = tf.distribute.MirroredStrategy(["CPU:0", "CPU:1"])
    return _TWO_CPU_STRATEGY


_TWO_CPU_STRATEGY = None

# Grappler's graph rewrites cost more than they save on the tests' tiny,
# few-step models (a tiny RAGAN train step: first call 15.8 s with them,
# 2.0 s without); training outside the tests keeps them.
tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})


# ----------------------------------------------------------------------------
# A tiny run folder and its export, shared by the export and `age` tests.
import numpy as np  # noqa: E402
import pytest  # noqa: E402

TINY_PIPELINE = os.path.join(os.path.dirname(__file__), os.pardir, "pipelines", "ragan_synthetic_tiny.yaml")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A run folder as `ragan-tf train` leaves it, holding an untrained tiny generator whose
    conditional-batch-norm tables are randomised (so the age groups give different outputs)."""
    from ragan_tf.config import load_config, save_config
    from ragan_tf.models.ragan.ragan_family import build_generator

    run = tmp_path_factory.mktemp("tiny_run")
    config = load_config(TINY_PIPELINE, [f"runtime.run_dir={run}"])
    generator = build_generator(config)
    rng = np.random.default_rng(0)
    for variable in generator.weights:
        if "gamma_table" in variable.path or "beta_table" in variable.path:
            variable.assign(variable.numpy() + rng.normal(0, 0.5, variable.shape).astype(np.float32))
    generator.save(run / "inference_model.keras")
    save_config(config, run / "config.yaml")
    (run / "history.csv").write_text("epoch,g_loss,val_rec\n0,2.5,0.2\n1,2.0,0.15\n")
    return run


@pytest.fixture(scope="session")
def tiny_export(tiny_run, tmp_path_factory):
    """`ragan-tf export` of `tiny_run`, with the TFLite models (float32, float16 weights) and the
    ONNX model (the `onnx` extra, which the `dev` extra installs)."""
    from ragan_tf.export import export_saved_model

    return export_saved_model(tiny_run, tmp_path_factory.mktemp("tiny_export") / "model", tflite=True, onnx=True,
                              verbose=False)
