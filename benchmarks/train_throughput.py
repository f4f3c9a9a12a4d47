"""RAGAN train-step throughput and achieved FLOP/s against a measured matmul peak.

For each pipeline (quick-start and paper-size widths) and image size, builds
the training model exactly as `ragan-tf train` does, feeds a fixed random
batch (so the input pipeline is not measured), and times `fit` steps after
a warm-up. FLOPs per step are counted on the traced train-step graph with
TensorFlow's profiler (convolutions, matmuls and their gradients); the peak
is a timed square float32 matmul (float16 with --mixed-precision) on the
same device.

    python benchmarks/train_throughput.py                       # CPU, all sizes, with and without XLA
    python benchmarks/train_throughput.py --sizes 256 --configs paper --xla on --mixed-precision  # a GPU
"""

import argparse
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from ragan_tf.config import load_config  # noqa: E402
from ragan_tf.training.train import build_training_model  # noqa: E402

PIPELINES = {
    "quickstart": Path(__file__).resolve().parents[1] / "pipelines" / "ragan_synthetic_quickstart.yaml",
    "paper": Path(__file__).resolve().parents[1] / "pipelines" / "ragan_synthetic_256.yaml",
}


def matmul_peak(dtype, size=4096, repeats=10):
    """Measured FLOP/s of a square matmul (2 n^3 per product)."""
    a = tf.random.normal((size, size), dtype=dtype)
    b = tf.random.normal((size, size), dtype=dtype)
    product = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    product().numpy()
    start = time.perf_counter()
    for _ in range(repeats):
        product().numpy()
    return 2 * size**3 * repeats / (time.perf_counter() - start)


def random_batch(config):
    size, batch = config.data.image_size, config.training.batch_size
    rng = np.random.default_rng(0)
    return {
        "image": rng.uniform(-1, 1, (batch, size, size, 3)).astype(np.float32),
        "face_mask": (rng.uniform(size=(batch, size, size, 1)) > 0.3).astype(np.float32),
        "age_group": rng.integers(0, config.data.num_age_groups, batch).astype(np.int32),
    }


def step_flops(model, batch):
    """Floating-point operations of one train step, counted on its graph."""
    concrete = tf.function(model.train_step).get_concrete_function(
        {key: tf.TensorSpec(value.shape, tf.as_dtype(value.dtype)) for key, value in batch.items()}
    )
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    profile = tf.compat.v1.profiler.profile(graph=concrete.graph, options=options)
    return profile.total_float_ops


class StepTimer(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter())

    def on_train_begin(self, logs=None):
        self.times = [time.perf_counter()]


def measure(pipeline, size, xla, steps, mixed_precision):
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed_precision else "float32")
    config = load_config(
        PIPELINES[pipeline],
        [f"data.image_size={size}", f"training.jit_compile={str(xla).lower()}",
         f"training.mixed_precision={str(mixed_precision).lower()}"],
    )
    model = build_training_model(config, tf.distribute.get_strategy())
    batch = random_batch(config)
    flops = step_flops(model, batch)
    dataset = tf.data.Dataset.from_tensors(batch).repeat()
    model.fit(dataset, steps_per_epoch=2, epochs=1, verbose=0)  # trace, compile, warm up
    timer = StepTimer()
    model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[timer])
    seconds_per_step = (timer.times[-1] - timer.times[0]) / steps
    params = model.generator.count_params(), model.discriminator.count_params()
    return config.training.batch_size / seconds_per_step, seconds_per_step, flops, params


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=["quickstart", "paper"], choices=sorted(PIPELINES))
    parser.add_argument("--sizes", nargs="+", type=int, default=[64, 128, 256])
    parser.add_argument("--xla", choices=["on", "off", "both"], default="both")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per setting")
    parser.add_argument("--mixed-precision", action="store_true")
    args = parser.parse_args()

    devices = tf.config.list_physical_devices("GPU") or tf.config.list_physical_devices("CPU")
    device = tf.config.experimental.get_device_details(devices[0]).get("device_name", platform.processor() or devices[0].name)
    peak_dtype = tf.float16 if args.mixed_precision else tf.float32
    peak = matmul_peak(peak_dtype)
    print(f"device: {device} ({os.cpu_count()} CPU cores); TF {tf.__version__}, Keras {keras.__version__}")
    print(f"measured {peak_dtype.name} matmul peak: {peak / 1e9:.1f} GFLOP/s")
    print("| config | px | XLA | G params | D params | s/step | images/s | GFLOP/step | achieved GFLOP/s | of peak |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    xla_settings = {"on": [True], "off": [False], "both": [False, True]}[args.xla]
    for pipeline in args.configs:
        for size in args.sizes:
            for xla in xla_settings:
                images_per_second, seconds, flops, (g_params, d_params) = measure(
                    pipeline, size, xla, args.steps, args.mixed_precision
                )
                achieved = flops / seconds
                print(
                    f"| {pipeline} | {size} | {'on' if xla else 'off'} | {g_params / 1e6:.2f}M | {d_params / 1e6:.2f}M "
                    f"| {seconds:.3f} | {images_per_second:.1f} | {flops / 1e9:.2f} | {achieved / 1e9:.1f} "
                    f"| {achieved / peak:.1%} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
