"""Train-step throughput and model FLOP utilisation (MFU) of every model family.

For each pipeline (RAGAN's quick-start and paper widths, and each other
family's 64 px synthetic pipeline) and image size, builds the training model
exactly as `ragan-tf train` does, feeds a fixed random batch (so the input
pipeline is not measured), and times `fit` steps after a warm-up.

Two FLOP counts per step:
- model FLOPs (`ragan_tf.training.model_flops`): the convolutions and dense
  layers the step calls, from their shapes, 3x forward for a differentiated
  call and 1x for a detached one. MFU = model FLOPs / step time / peak.
- graph FLOPs: TensorFlow's profiler on the traced train-step graph. XLA
  removes work this graph repeats, so graph FLOPs over time can pass 100%.
The peak is the best of a timed square matmul and a 3x3 convolution in
float32 (float16 with --mixed-precision) on the same device
(`inference.measured_peak`).

    python benchmarks/train_throughput.py                       # CPU, every family, all sizes, XLA on and off
    python benchmarks/train_throughput.py --configs quickstart dcgan --sizes 64 --xla off
    python benchmarks/train_throughput.py --sizes 256 --configs paper --xla both --mixed-precision  # a GPU
"""

import argparse
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inference import measured_peak  # noqa: E402  (this folder's benchmark helpers)

from ragan_tf.config import load_config  # noqa: E402
from ragan_tf.training.model_flops import train_step_flops  # noqa: E402
from ragan_tf.training.train import build_training_model  # noqa: E402

_PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"
PIPELINES = {
    "quickstart": _PIPELINES / "ragan_synthetic_quickstart.yaml",
    "paper": _PIPELINES / "ragan_synthetic_256.yaml",
    **{family: _PIPELINES / f"{family}_synthetic_64.yaml"
       for family in ("age_cgan", "encoder_cdcgan", "dcgan", "vanilla_gan", "cvae")},
}


def random_batch(config):
    size, batch = config.data.image_size, config.training.batch_size
    rng = np.random.default_rng(0)
    return {  # every key some family reads; each family's step draws its own noise and targets
        "image": rng.uniform(-1, 1, (batch, size, size, 3)).astype(np.float32),
        "face_mask": (rng.uniform(size=(batch, size, size, 1)) > 0.3).astype(np.float32),
        "age_group": rng.integers(0, config.data.num_age_groups, batch).astype(np.int32),
        "age": rng.uniform(0, 80, batch).astype(np.float32),
        "gender": rng.integers(0, 2, batch).astype(np.int32),
    }


def graph_flops(model, batch):
    """Floating-point operations of one train step, counted on its traced graph (before XLA)."""
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
    model_flops = train_step_flops(model, batch).total  # one eager step
    flops = graph_flops(model, batch)
    dataset = tf.data.Dataset.from_tensors(batch).repeat()
    model.fit(dataset, steps_per_epoch=2, epochs=1, verbose=0)  # trace, compile, warm up
    timer = StepTimer()
    model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[timer])
    seconds_per_step = (timer.times[-1] - timer.times[0]) / steps
    params = sum(int(np.prod(variable.shape)) for variable in model.trainable_variables)
    return config.training.batch_size / seconds_per_step, seconds_per_step, model_flops, flops, params


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
    peak, candidates = measured_peak(dtype=peak_dtype)
    peak *= 1e9
    print(f"device: {device} ({os.cpu_count()} CPU cores); TF {tf.__version__}, Keras {keras.__version__}")
    print(f"measured {peak_dtype.name} peak: {peak / 1e9:.1f} GFLOP/s ({candidates})")
    print("| config | px | XLA | trained params | s/step | images/s | model GFLOP/step | MFU "
          "| graph GFLOP/step | graph GFLOP/s / peak |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    xla_settings = {"on": [True], "off": [False], "both": [False, True]}[args.xla]
    for pipeline in args.configs:
        for size in args.sizes:
            for xla in xla_settings:
                images_per_second, seconds, model_flops, flops, params = measure(
                    pipeline, size, xla, args.steps, args.mixed_precision
                )
                print(
                    f"| {pipeline} | {size} | {'on' if xla else 'off'} | {params / 1e6:.2f}M "
                    f"| {seconds:.3f} | {images_per_second:.1f} | {model_flops / 1e9:.2f} "
                    f"| {model_flops / seconds / peak:.1%} | {flops / 1e9:.2f} | {flops / seconds / peak:.1%} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
