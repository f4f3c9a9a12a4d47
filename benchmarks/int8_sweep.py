"""Full-integer int8 for the aging sweep: LiteRT (TFLite) with int8 weights and activations, against float32 and bfloat16.

    python benchmarks/int8_sweep.py                          # paper size, 256 px, random weights, 4 ages
    python benchmarks/int8_sweep.py --model RUN_FOLDER       # a trained run's generator (its own size)
    python benchmarks/int8_sweep.py --size 64 --config quickstart --calibration 4 --repeats 1   # smoke run

The generator's `age_sweep` for one face and A target ages (`--ages`, static
shapes) is converted to a TFLite flatbuffer with post-training full-integer
quantization (`Optimize.DEFAULT` with a representative dataset of
`--calibration` synthetic renders at random target ages; float32 input and
output, int8 everywhere the converter can), and run with the XNNPACK delegate
at every core (its QS8 kernels use AVX-512 VNNI where the CPU has it). Ops the
converter cannot quantize stay float (`TFLITE_BUILTINS` with
`TFLITE_BUILTINS_INT8`); the script prints how many of each op kind ended up
int8. Rows: the in-memory float32 sweep (`tf.function`), the same in oneDNN's
bfloat16 (where the CPU has it), the TFLite float32 sweep and the int8 sweep:
median seconds for one face at A ages, achieved GOP/s (the generator's
forward FLOPs: encoder once, modulator + decoder per age), and the
difference from float32 on held-out renders (largest and mean, uint8 levels).
With `--model`, the outputs are a trained generator's, where the difference
means what a user would see; on random weights it is only an upper bound of
the rounding (no trained normalisation statistics).
"""

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from ragan_tf.config import load_config  # noqa: E402
from ragan_tf.data.age_groups import age_group_weights, get_scheme  # noqa: E402
from ragan_tf.data.synthetic_faces import render_faces  # noqa: E402
from ragan_tf.export.tflite import tflite_interpreter  # noqa: E402
from ragan_tf.models.ragan.ragan_family import build_generator  # noqa: E402
from ragan_tf.precision import in_precision, native_bfloat16_flags  # noqa: E402

HERE = Path(__file__).resolve().parent
PIPELINES = {"quickstart": HERE.parent / "pipelines" / "ragan_synthetic_quickstart.yaml",
             "paper": HERE.parent / "pipelines" / "ragan_synthetic_256.yaml"}


def timed(function, repeats):
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def faces(count, size, seed):
    """Synthetic renders in [-1, 1] [N, S, S, 3] and their face masks [N, S, S, 1] (float32)."""
    rng = np.random.default_rng(seed)
    rendered = render_faces(list(rng.integers(0, 10**6, count)), list(rng.uniform(5, 80, count)), size, seed)
    return rendered.images.astype(np.float32) / 127.5 - 1.0, rendered.face_masks.astype(np.float32)


def forward_flops(function, *specs):
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    graph = convert_variables_to_constants_v2(function.get_concrete_function(*specs)).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return tf.compat.v1.profiler.profile(graph, options=options).total_float_ops


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a run folder (its inference_model.keras); default: random weights")
    parser.add_argument("--config", choices=sorted(PIPELINES), default="paper")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--ages", type=int, default=4)
    parser.add_argument("--calibration", type=int, default=32, help="representative renders for the int8 ranges")
    parser.add_argument("--held-out", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    if args.model:
        generator = keras.saving.load_model(args.model / "inference_model.keras")
        size = int(generator.image_size)
    else:
        size = args.size
        generator = build_generator(load_config(PIPELINES[args.config], [f"data.image_size={size}"]))
    anchors = get_scheme("ffhq_aging").anchor_ages
    groups = len(anchors)
    specs = (tf.TensorSpec([1, size, size, 3], tf.float32, name="image"),
             tf.TensorSpec([1, size, size, 1], tf.float32, name="face_mask"),
             tf.TensorSpec([args.ages, groups], tf.float32, name="weights"))

    @tf.function(input_signature=specs)
    def sweep(image, face_mask, weights):
        return generator.age_sweep(image, face_mask, weights, training=False)[0]

    encode = tf.function(lambda x, m: generator.identity_encoder.encode(x, m, training=False))
    flops = forward_flops(sweep, *specs)
    encoder_flops = forward_flops(encode, *specs[:2])
    print(f"{'trained ' + str(args.model) if args.model else args.config + ' generator, random weights'}; "
          f"{size} px; {generator.count_params() / 1e6:.1f}M parameters; sweep of {args.ages} ages: "
          f"{flops / 1e9:.1f} GFLOP (encoder {encoder_flops / 1e9:.1f}); load average "
          f"{'/'.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)

    ages_rng = np.random.default_rng(1)
    calibration_images, calibration_masks = faces(args.calibration, size, seed=10)

    def representative():
        for image, mask in zip(calibration_images, calibration_masks):
            ages = ages_rng.uniform(1, 90, args.ages).astype(np.float32)
            yield [image[None], mask[None], age_group_weights(tf.constant(ages), anchors).numpy()]

    with tempfile.TemporaryDirectory() as folder:
        from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

        frozen = convert_variables_to_constants_v2(sweep.get_concrete_function())  # weights as constants
        files = {}
        for name, int8 in (("float32", False), ("int8", True)):
            converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
            if int8:
                converter.optimizations = [tf.lite.Optimize.DEFAULT]
                converter.representative_dataset = representative
                converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                                                       tf.lite.OpsSet.TFLITE_BUILTINS]
            start = time.perf_counter()
            files[name] = Path(folder) / f"sweep_{name}.tflite"
            files[name].write_bytes(converter.convert())
            print(f"  converted {name} in {time.perf_counter() - start:.0f} s "
                  f"({files[name].stat().st_size / 1e6:.1f} MB)", flush=True)
        op_types(files["int8"])

        interpreter_class, interpreter_name = tflite_interpreter()
        threads = os.cpu_count() or 1

        def tflite_runner(file):
            interpreter = interpreter_class(model_path=str(file), num_threads=threads)
            interpreter.allocate_tensors()
            output = interpreter.get_output_details()[0]["index"]
            by_shape = {tuple(d["shape"]): d["index"] for d in interpreter.get_input_details()}

            def run(image, mask, weights):
                for value in (image, mask, weights):
                    interpreter.set_tensor(by_shape[tuple(value.shape)], value)
                interpreter.invoke()
                return interpreter.get_tensor(output)

            return run

        def in_memory(image, mask, weights):
            return sweep(tf.constant(image), tf.constant(mask), tf.constant(weights)).numpy()

        paths = {"tf.function sweep, float32": in_memory}
        if native_bfloat16_flags():
            paths["tf.function sweep, bfloat16 (oneDNN rewrite)"] = in_precision(in_memory, "bfloat16")
        paths[f"TFLite sweep, float32 ({interpreter_name}, {threads} threads)"] = tflite_runner(files["float32"])
        paths[f"TFLite sweep, full-integer int8 ({threads} threads)"] = tflite_runner(files["int8"])

        held_images, held_masks = faces(args.held_out, size, seed=99)
        weights = age_group_weights(tf.constant(np.linspace(1, 80, args.ages).astype(np.float32)), anchors).numpy()

        def to_uint8(floats):
            return np.round(np.clip((np.asarray(floats) + 1.0) * 127.5, 0, 255)).astype(np.int32)

        reference = [to_uint8(in_memory(image[None], mask[None], weights)) for image, mask in zip(held_images,
                                                                                                  held_masks)]
        print(f"\none face at {args.ages} ages, {size} px; median of {args.repeats}; difference from float32 on "
              f"{args.held_out} held-out renders (uint8 levels)\n")
        print("| path | s | GOP/s | largest diff | mean diff |\n|---|---|---|---|---|")
        for label, path in paths.items():
            seconds = timed(lambda: path(held_images[:1], held_masks[:1], weights), args.repeats)
            differences = [np.abs(to_uint8(path(image[None], mask[None], weights)) - expected)
                           for image, mask, expected in zip(held_images, held_masks, reference)]
            print(f"| {label} | {seconds:.2f} | {flops / seconds / 1e9:.0f} | {max(d.max() for d in differences)} | "
                  f"{np.mean([d.mean() for d in differences]):.2f} |", flush=True)
    print(f"load average after {'/'.join(f'{v:.2f}' for v in os.getloadavg())}")


def op_types(file):
    """Prints the int8 share per op kind of a TFLite flatbuffer (by the type of its first input)."""
    interpreter = tflite_interpreter()[0](model_path=str(file))
    details = {tensor["index"]: tensor["dtype"] for tensor in interpreter.get_tensor_details()}
    counts = {}
    for op in interpreter._get_ops_details():
        inputs = [index for index in op["inputs"] if index >= 0]
        kind = "int8" if inputs and details.get(inputs[0]) == np.int8 else "float"
        counts.setdefault(op["op_name"], {"int8": 0, "float": 0})[kind] += 1
    print("  int8 ops: " + ", ".join(f"{name} {c['int8']}/{c['int8'] + c['float']}"
                                     for name, c in sorted(counts.items())), flush=True)


if __name__ == "__main__":
    main()
