"""Our paper-size generator against a LATS-layout generator, in one framework on one machine (issue 18).

Both at 256 px with random weights (speed does not depend on them), both as
in-memory `tf.function`s with TensorFlow's default threads, timed interleaved
(each round runs every path once, in turn; median of `--repeats` rounds after a
warm-up), so that load on the machine affects all paths alike:

- ours: the `age_sweep` of `ragan_synthetic_256.yaml`'s generator (the identity
  encoder once per face, the age modulator and decoder on the A ages as one batch:
  what `ragan-tf age` runs);
- LATS layout (`benchmarks/lats_layout.py`): the whole generator on A rows, one per
  target age, as LATS's own test code runs it (its identity encoder does not read
  the age either, so it could encode once too: the encoder's share is printed).

Each in float32 and, on a CPU with bfloat16 units, with `--precision bfloat16`'s
rewrite (`ragan_tf.precision.in_precision`). The external anchor stays the PyTorch
figure of LATS's own code on the issue's host (0.70 s for one image and one age,
3.67 s for 6 ages): it was not re-run here (no PyTorch in this environment).

    python benchmarks/peer_speed.py                  # 1 and 4 ages, median of 7 (~3 min on 2 cores)
    python benchmarks/peer_speed.py --repeats 1 --size 64   # a smoke run
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inference import PIPELINES, forward_flops, generator_flops, load_average, machine_facts  # noqa: E402
from lats_layout import AGE_CLASSES, AGE_CODE_PER_CLASS, age_codes, build_lats_layout_generator  # noqa: E402

from ragan_tf.config import load_config  # noqa: E402
from ragan_tf.data.age_groups import age_group_weights, get_scheme  # noqa: E402
from ragan_tf.models.ragan.ragan_family import build_generator  # noqa: E402
from ragan_tf.precision import in_precision, native_bfloat16_flags  # noqa: E402


LATS, OURS = "LATS layout, whole generator per age", "ours, `age_sweep` (encode once)"


def lats_network(size):
    """`(parameters, FLOPs per pass, encoder FLOPs, ages -> timed call)`; the network is built once."""
    generator = build_lats_layout_generator(size)
    encoder = keras.Model(generator.inputs[0], generator.get_layer("id_res3_add").output)
    image = tf.constant(np.random.default_rng(0).uniform(-1, 1, (1, size, size, 3)).astype("float32"))
    whole = tf.function(lambda x, a: generator([x, a], training=False))
    image_spec = tf.TensorSpec([1, size, size, 3])
    flops = forward_flops(lambda x, a: generator([x, a], training=False), image_spec,
                          tf.TensorSpec([1, AGE_CLASSES * AGE_CODE_PER_CLASS]))
    encoder_flops = forward_flops(lambda x: encoder(x, training=False), image_spec)

    def call(ages):
        codes = tf.constant(age_codes(np.arange(ages)))
        return lambda: whole(tf.repeat(image, ages, 0), codes).numpy()

    return generator.count_params(), flops, encoder_flops, call


def our_network(size):
    """As `lats_network`, for the paper-size RAGAN generator's `age_sweep`."""
    generator = build_generator(load_config(PIPELINES["paper"], [f"data.image_size={size}"]))
    rng = np.random.default_rng(0)
    image = tf.constant(rng.uniform(-1, 1, (1, size, size, 3)).astype("float32"))
    mask = tf.constant((rng.uniform(size=(1, size, size, 1)) > 0.3).astype("float32"))
    sweep = tf.function(lambda x, m, w: generator.age_sweep(x, m, w, training=False))
    encoder, per_age = generator_flops(generator, size)

    def call(ages):
        weights = age_group_weights(tf.constant(np.linspace(1, 80, ages).round(), tf.float32),
                                    get_scheme("ffhq_aging").anchor_ages)
        return lambda: sweep(image, mask, weights).numpy()

    return generator.count_params(), encoder + per_age, encoder, call


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--ages", nargs="+", type=int, default=[1, 4])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    before = load_average()
    print(f"peer speed (issue 18); {machine_facts()}; TF {tf.__version__}; load average before {before}", flush=True)
    precisions = ["float32"] + (["bfloat16"] if native_bfloat16_flags() else [])
    networks = {LATS: lats_network(args.size), OURS: our_network(args.size)}
    for label, (params, flops, encoder, _) in networks.items():
        print(f"{label}: {params / 1e6:.1f}M parameters, {flops / 1e9:.1f} GFLOP per forward pass at {args.size} px "
              f"(encoder {encoder / 1e9:.1f})", flush=True)
    paths = {(label, ages, precision): in_precision(call(ages), precision)
             for label, (*_, call) in networks.items() for ages in args.ages for precision in precisions}
    for path in paths.values():
        path()  # warm-up: tracing, grappler, oneDNN primitive caches
    times = {key: [] for key in paths}
    for round_ in range(args.repeats):
        for key, path in paths.items():
            start = time.perf_counter()
            path()
            times[key].append(time.perf_counter() - start)
        print(f"  round {round_ + 1}/{args.repeats} done", flush=True)
    medians = {key: statistics.median(values) for key, values in times.items()}
    print(f"\nseconds per face, median of {args.repeats} interleaved rounds after a warm-up\n")
    print("| path | precision | " + " | ".join(f"{ages} age{'s' * (ages > 1)}" for ages in args.ages) + " |")
    print("| --- | --- |" + " --- |" * len(args.ages))
    for label in networks:
        for precision in precisions:
            cells = " | ".join(f"{medians[(label, ages, precision)]:.2f}" for ages in args.ages)
            print(f"| {label} | {precision} | {cells} |")
    print()
    for ages in args.ages:
        lats32 = medians[(LATS, ages, "float32")]
        for precision in precisions:
            ours = medians[(OURS, ages, precision)]
            same = medians[(LATS, ages, precision)]
            print(f"{ages} age(s): LATS layout float32 / ours {precision} = {lats32 / ours:.2f}x; "
                  f"same precision ({precision}): {same / ours:.2f}x")
    print(f"load average before {before}, after {load_average()}")


if __name__ == "__main__":
    main()
