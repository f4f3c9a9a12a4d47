"""Inference speed: SavedModel latency and batch throughput, `ragan-tf age` end to end, and
latency per export format.

1. For each size (64, 128, 256 px) and width (quick-start, paper-size):
   builds a generator (random weights: speed does not depend on them),
   exports it exactly as `ragan-tf export` does, loads the SavedModel and
   times `serving_default` on one image (latency) and on a batch
   (images/s).
2. End to end with `Ager` on photos: seconds per photo split into load,
   detection, alignment, generator and paste-back (median of repeats).
3. `--formats` (instead of 1 and 2): for the quick-start width at 64 and
   256 px, exports as `ragan-tf export --tflite --onnx` does (SavedModel,
   model.tflite, model_float16.tflite, model.onnx) and times the float core
   `generate` on one image (batch 1: a synthetic render, its face mask, one
   target age) in each: the SavedModel's signature (`tf.saved_model.load`),
   the TFLite signature runner of the interpreter the export checks with
   (`ragan_tf.export.tflite.tflite_interpreter`: LiteRT's, else tf.lite's),
   and the onnxruntime CPU session `ragan-tf age --runtime onnx` opens
   (`ragan_tf.inference.ager.onnx_core`). Threads: TensorFlow's and
   onnxruntime's defaults; the TFLite interpreters' default is one thread
   (`num_threads` unset runs 1), so TFLite is timed at 1 and at every core
   (`--tflite-threads`). Prints median latency, file sizes and each
   format's largest difference from the SavedModel on the timed input, with
   the CPU model, core count, load average before and after, and the date.

    python benchmarks/inference.py                 # 1 and 2 (about 10 min on 2 CPU cores)
    python benchmarks/inference.py --quick         # 1 and 2, 64 px quick-start width only
    python benchmarks/inference.py --formats       # 3: 64 and 256 px, median of 30
    python benchmarks/inference.py --formats --sizes 64 --repeats 3   # a smoke run
    python benchmarks/inference.py --sweep         # 4: encode once, every age at paper size (issue 18)
    python benchmarks/inference.py --sweep --sizes 64 --configs quickstart --repeats 1   # its smoke run

4. `--sweep` (instead of 1-3): the paper-size generator at 256 px (random
   weights), one face at A target ages (4 and 10 by default) through each
   path: `with_face_mask` with one row per age (the whole generator A
   times: the path before issue 18), the `age_sweep` signature (the
   identity encoder once, the age modulator and decoder on the A rows as
   one batch), the same sweep as an in-memory `tf.function` with and
   without XLA (`jit_compile`), and the TFLite float core (`generate`, one
   interpreter call on the A rows: the whole generator A times) as float32,
   float16 weights and dynamic-range int8 weights, at every core. Each row:
   median seconds per face, the largest difference from the `with_face_mask`
   rows (uint8 levels; the float paths' output rounded alike), and achieved
   GFLOP/s: the FLOPs the path computes (TensorFlow's profiler on the
   forward graphs of the encoder and of the modulator + decoder, 2 per
   multiply-add) over its time, against a measured float32 peak (the best of
   a 4096^2 matmul and a 64x64x256 3x3 convolution, both at every core).
   On a CPU with bfloat16 units (AMX / AVX-512 BF16), also the sweep
   signature and the in-memory sweep with `--precision bfloat16` (oneDNN's
   bfloat16 rewrite: `ragan_tf.precision`; its GFLOP/s can exceed
   the float32 peak). Then `ragan-tf age` end to end per photo (`Ager`) at
   4 and 10 ages, with the sweep (and in bfloat16 where the CPU has it) and
   with one row per age.
"""

import argparse
import datetime
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

from ragan_tf.config import load_config, save_config  # noqa: E402
from ragan_tf.data.synthetic_faces import render  # noqa: E402
from ragan_tf.export import export_saved_model  # noqa: E402
from ragan_tf.export.tflite import TFLITE_FILE, TFLITE_FLOAT16_FILE, core_inputs, tflite_interpreter  # noqa: E402
from ragan_tf.inference.ager import Ager  # noqa: E402
from ragan_tf.precision import in_precision, native_bfloat16_flags, set_precision  # noqa: E402
from ragan_tf.models.ragan.ragan_family import build_generator  # noqa: E402

PIPELINES = {
    "quickstart": Path(__file__).resolve().parents[1] / "pipelines" / "ragan_synthetic_quickstart.yaml",
    "paper": Path(__file__).resolve().parents[1] / "pipelines" / "ragan_synthetic_256.yaml",
}


def make_export(config_name, size, folder, **formats):
    """A run folder with a random-weight generator, exported (`formats`: `tflite=True`, `onnx=True`
    as `ragan-tf export --tflite --onnx`); returns the SavedModel path and the generator's size."""
    run = Path(folder) / f"{config_name}_{size}_run"
    config = load_config(PIPELINES[config_name], [f"data.image_size={size}", f"runtime.run_dir={run}"])
    run.mkdir(parents=True)
    generator = build_generator(config)
    generator.save(run / "inference_model.keras")
    save_config(config, run / "config.yaml")
    export = export_saved_model(run, Path(folder) / f"{config_name}_{size}", verbose=False, **formats)
    return export, generator.count_params()


def timed(function, repeats):
    function()  # warm-up (tracing, allocation)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def saved_model_speed(export, size, batch, repeats):
    serve = tf.saved_model.load(str(export)).signatures["serving_default"]
    rng = np.random.default_rng(0)

    def run(count):
        images = tf.constant(rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8))
        ages = tf.constant(rng.integers(0, 90, count, dtype=np.int32))
        return lambda: serve(image=images, target_age=ages)["aged_image"].numpy()

    return timed(run(1), repeats), batch / timed(run(batch), max(1, repeats // 2))


def photos(folder):
    """Two test photos: a synthetic face on a 1024x768 canvas, and scikit-image's astronaut (512 px)."""
    canvas = np.full((768, 1024, 3), (90, 120, 150), np.uint8)
    canvas[200:456, 380:636] = render(11, 30.0, 256).image
    paths = {"synthetic face, 1024x768": Path(folder) / "synthetic.png"}
    Image.fromarray(canvas).save(paths["synthetic face, 1024x768"])
    try:
        from skimage import data

        paths["astronaut, 512x512"] = Path(folder) / "astronaut.png"
        Image.fromarray(data.astronaut()).save(paths["astronaut, 512x512"])
    except ImportError:
        pass
    return paths


def end_to_end(export, photo_paths, ages, repeats):
    ager = Ager(export)
    rows = []
    for label, path in photo_paths.items():
        ager.age_photo(path, ages)  # warm-up
        runs = [ager.age_photo(path, ages).timings for _ in range(repeats)]
        medians = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        rows.append((label, medians))
    return rows


def machine_facts():
    """CPU model (/proc/cpuinfo), logical and physical cores, the date: one line."""
    model, physical = platform.processor() or platform.machine(), set()
    try:
        entry = {}
        for line in Path("/proc/cpuinfo").read_text().splitlines() + [""]:
            key, _, value = (part.strip() for part in line.partition(":"))
            if key:
                entry[key] = value
                continue
            if entry:  # the blank line that ends one processor's entry
                model = entry.get("model name", model)
                physical.add((entry.get("physical id"), entry.get("core id")))
            entry = {}
    except OSError:
        pass
    cores = f"{os.cpu_count()} logical CPUs" + (f", {len(physical)} physical cores" if physical else "")
    if hasattr(os, "sched_getaffinity"):
        cores += f", {len(os.sched_getaffinity(0))} usable by this process"
    return f"{model}; {cores}; {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}"


def load_average():
    return "/".join(f"{value:.2f}" for value in os.getloadavg()) + " (1/5/15 min)"


def file_size(size):
    return f"{size / 1e3:.0f} KB" if size < 1e6 else f"{size / 1e6:.2f} MB"


def saved_model_bytes(export):
    """The SavedModel proper: saved_model.pb and variables/ (every signature, not only the core)."""
    files = [export / "saved_model.pb", *(path for path in (export / "variables").rglob("*") if path.is_file())]
    return sum(path.stat().st_size for path in files)


def format_rows(export, repeats, tflite_threads):
    """`(rows, thread notes)`: a row `(file, runtime, threads, median seconds, bytes, largest
    difference or None for the reference)` for each format, all on the same batch-1 input of the
    float core `generate` (the first of the export checks' renders); the notes say what each
    runtime's thread setting means."""
    from ragan_tf.inference.ager import onnx_core, read_export_card  # lazy: onnxruntime is an extra

    name, inputs, _ = core_inputs(export, count=1)
    loaded = tf.saved_model.load(str(export))  # kept alive: the signature captures its variables
    signature = loaded.signatures[name]
    constants = {key: tf.constant(value) for key, value in inputs.items()}

    def saved_model():
        return next(iter(signature(**constants).values())).numpy()

    reference = saved_model()
    intra, inter = (tf.config.threading.get_intra_op_parallelism_threads(),
                    tf.config.threading.get_inter_op_parallelism_threads())
    notes = {"TensorFlow": f"intra-op {intra}, inter-op {inter} threads (0: TensorFlow's default, its pools "
                           "sized to the logical CPUs)"}
    rows = [("SavedModel", f"TensorFlow {tf.__version__}, `{name}` signature",
             "default" if intra == inter == 0 else f"intra {intra}, inter {inter}",
             timed(saved_model, repeats), saved_model_bytes(export), None)]
    interpreter_class, interpreter_name = tflite_interpreter()
    notes["TFLite"] = (f"{interpreter_name}, num_threads as given (the interpreter's default, num_threads unset, "
                       "runs 1 thread)")
    for file_name in (TFLITE_FILE, TFLITE_FLOAT16_FILE):
        for threads in tflite_threads:
            runner = interpreter_class(model_path=str(export / file_name),
                                       num_threads=threads).get_signature_runner(name)

            def tflite(runner=runner):
                return next(iter(runner(**inputs).values()))

            rows.append((file_name, f"{interpreter_name.split(' (')[0]}, signature runner",
                         f"num_threads={threads}" + (" (default)" if threads == 1 else ""),
                         timed(tflite, repeats), (export / file_name).stat().st_size,
                         float(np.max(np.abs(tflite() - reference)))))
    session = onnx_core(export, read_export_card(export))  # `ragan-tf age --runtime onnx`'s session
    options = session.get_session_options()
    import onnxruntime

    notes["onnxruntime"] = (f"intra-op {options.intra_op_num_threads}, inter-op {options.inter_op_num_threads} "
                            f"threads, {options.execution_mode.name} (0: onnxruntime's default, intra-op one per "
                            "physical core; inter-op unused when sequential)")

    def onnx():
        return session.run(None, inputs)[0]

    rows.append(("model.onnx", f"onnxruntime {onnxruntime.__version__}, {session.get_providers()[0]}",
                 "default" if options.intra_op_num_threads == 0 else f"intra {options.intra_op_num_threads}",
                 timed(onnx, repeats), (export / "model.onnx").stat().st_size,
                 float(np.max(np.abs(onnx() - reference)))))
    return rows, notes


def formats_benchmark(args):
    from ragan_tf.export.onnx_export import require_onnx

    require_onnx()  # one line naming the `onnx` extra, before anything is built
    keras.utils.set_random_seed(0)  # the same random weights each run, so the same differences
    before = load_average()
    print(f"export formats benchmark; {machine_facts()}; TF {tf.__version__}; load average before {before}",
          flush=True)
    print(f"\nfloat core `generate`, 1 image (batch 1), median of {args.repeats} after one warm-up; random "
          "weights; largest difference from the SavedModel on the same input\n")
    print("| config | px | G params | file | runtime | threads | latency, 1 image (ms) | size | "
          "largest difference |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |", flush=True)
    notes = {}
    with tempfile.TemporaryDirectory() as folder:
        for config_name in args.configs:
            for size in args.sizes:
                export, params = make_export(config_name, size, folder, tflite=True, onnx=True)
                rows, notes = format_rows(export, args.repeats, args.tflite_threads)
                for file_name, runtime, threads, seconds, size_bytes, difference in rows:
                    cell = "reference" if difference is None else f"{difference:.1e}"
                    print(f"| {config_name} | {size} | {params / 1e6:.2f}M | `{file_name}` | {runtime} | {threads} | "
                          f"{seconds * 1e3:.1f} | {file_size(size_bytes)} | {cell} |", flush=True)
    print("\nSavedModel size: saved_model.pb and variables/, with every signature (not only the core).\nThreads:")
    for runtime, note in notes.items():
        print(f"  {runtime}: {note}")
    print(f"load average before {before}, after {load_average()}")


# ------------------------------------------------------------------ 4. --sweep (issue 18)
def forward_flops(function, *specs):
    """FLOPs of one call of `function` on inputs of `specs`, counted on its (non-XLA) graph."""
    concrete = tf.function(function).get_concrete_function(*specs)
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return tf.compat.v1.profiler.profile(graph=concrete.graph, options=options).total_float_ops


def generator_flops(generator, size):
    """`(encoder FLOPs per face, modulator + decoder FLOPs per age)` at batch 1."""
    image = tf.TensorSpec([1, size, size, 3], tf.float32)
    mask = tf.TensorSpec([1, size, size, 1], tf.float32)
    encoder = forward_flops(lambda x, m: generator.identity_encoder.encode(x, m, training=False), image, mask)
    whole = forward_flops(lambda x, m: generator(x, m, tf.zeros([1], tf.int32), training=False), image, mask)
    return encoder, whole - encoder


def measured_peak(repeats=5, dtype=tf.float32):
    """`(GFLOP/s, which)`: the best of a square matmul and a 3x3 convolution in `dtype` at every core."""
    rng = tf.random.Generator.from_seed(0)
    a, b = rng.normal((4096, 4096), dtype=dtype), rng.normal((4096, 4096), dtype=dtype)
    x, w = rng.normal((4, 64, 64, 256), dtype=dtype), rng.normal((3, 3, 256, 256), dtype=dtype)
    candidates = {
        "4096^2 matmul": (tf.function(lambda: tf.reduce_sum(tf.matmul(a, b))), 2 * 4096**3),
        "3x3 conv 4x64x64x256->256": (tf.function(lambda: tf.reduce_sum(tf.nn.conv2d(x, w, 1, "SAME"))),
                                       2 * 4 * 64 * 64 * 9 * 256 * 256),
    }
    rates = {name: flops / timed(lambda f=f: f().numpy(), repeats) for name, (f, flops) in candidates.items()}
    best = max(rates, key=rates.get)
    return rates[best] / 1e9, ", ".join(f"{name} {rate / 1e9:.0f}" for name, rate in rates.items())


def dynamic_int8_tflite(export, path):
    """The float core converted with dynamic-range quantization (int8 weights, float activations)."""
    converter = tf.lite.TFLiteConverter.from_saved_model(str(export), signature_keys=["generate"])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    Path(path).write_bytes(converter.convert())
    return Path(path)


def sweep_paths(export, generator, size, ages_list, repeats, threads):
    """`{path: {A: (seconds, largest uint8 difference from the rows path)}}` for one face."""
    from ragan_tf.data.age_groups import age_group_weights, get_scheme
    from ragan_tf.export.tflite import check_inputs

    images, masks, _ = check_inputs(size, count=1)
    face = np.round((images[0] + 1) * 127.5).astype(np.uint8)
    mask = masks[0].astype(np.float32)
    model_input = face[None].astype(np.float32) / 127.5 - 1.0
    anchors = get_scheme("ffhq_aging").anchor_ages
    loaded = tf.saved_model.load(str(export))
    rows_signature, sweep_signature = loaded.signatures["with_face_mask"], loaded.signatures["age_sweep"]

    def to_uint8(floats):
        return np.round(np.clip((np.asarray(floats) + 1.0) * 127.5, 0, 255)).astype(np.uint8)

    def sweep_function(jit):
        function = tf.function(lambda x, m, w: generator.age_sweep(x, m, w, training=False)[0], jit_compile=jit)
        return lambda ages: to_uint8(function(tf.constant(model_input), tf.constant(mask[None]),
                                              age_group_weights(tf.constant(ages, tf.float32), anchors)))

    def tflite_function(file):
        from ragan_tf.export.tflite import tflite_interpreter

        interpreter_class, _ = tflite_interpreter()
        runner = interpreter_class(model_path=str(file), num_threads=threads).get_signature_runner("generate")

        def run(ages):
            count = len(ages)
            return to_uint8(runner(image=np.repeat(model_input, count, 0), face_mask=np.repeat(mask[None], count, 0),
                                   target_age=np.asarray(ages, np.float32))["aged_image"])

        return run

    paths = {
        "SavedModel `with_face_mask`, one row per age (before)": lambda ages: rows_signature(
            image=tf.constant(np.repeat(face[None], len(ages), 0)),
            face_mask=tf.constant(np.repeat(mask[None], len(ages), 0)),
            target_age=tf.constant(np.asarray(ages, np.int32)))["aged_image"].numpy(),
        "SavedModel `age_sweep` (encode once)": lambda ages: sweep_signature(
            image=tf.constant(face), face_mask=tf.constant(mask),
            target_age=tf.constant(np.asarray(ages, np.int32)))["aged_images"].numpy(),
        "tf.function `age_sweep`": sweep_function(False),
        "tf.function `age_sweep`, XLA": sweep_function(True),
    }
    if native_bfloat16_flags():  # `--precision bfloat16`: oneDNN's bfloat16 rewrite around each call
        paths["SavedModel `age_sweep`, bfloat16 (--precision)"] = in_precision(
            paths["SavedModel `age_sweep` (encode once)"], "bfloat16")
        paths["tf.function `age_sweep`, bfloat16"] = in_precision(sweep_function(False), "bfloat16")
    with tempfile.TemporaryDirectory() as folder:
        int8 = dynamic_int8_tflite(export, Path(folder) / "model_int8_dynamic.tflite")
        for label, file in (("TFLite float32 core, one row per age", export / TFLITE_FILE),
                            ("TFLite float16 weights, one row per age", export / TFLITE_FLOAT16_FILE),
                            ("TFLite int8 weights (dynamic range), one row per age", int8)):
            paths[f"{label} ({threads} threads)"] = tflite_function(file)
        results = {}
        for count in ages_list:
            ages = np.linspace(1, 80, count).round().astype(np.int32)
            reference = paths["SavedModel `with_face_mask`, one row per age (before)"](ages)
            for label, path in paths.items():
                output = path(ages)
                results.setdefault(label, {})[count] = (
                    timed(lambda: path(ages), repeats),
                    int(np.max(np.abs(output.astype(int) - reference.astype(int)))))
                print(f"  {label}, {count} ages: {results[label][count][0]:.2f} s", flush=True)
    return results


def sweep_benchmark(args):
    keras.utils.set_random_seed(0)
    before = load_average()
    size, config_name = (args.sizes or [256])[0], (args.configs or ["paper"])[0]
    print(f"aging sweep benchmark (issue 18); {machine_facts()}; TF {tf.__version__}; load average before {before}",
          flush=True)
    peak, peaks = measured_peak()
    print(f"measured float32 peak: {peak:.0f} GFLOP/s ({peaks} GFLOP/s)", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        export, params = make_export(config_name, size, folder, tflite=True)
        generator = keras.saving.load_model(Path(folder) / f"{config_name}_{size}_run" / "inference_model.keras")
        encoder, per_age = generator_flops(generator, size)
        print(f"{config_name} generator, {size} px, {params / 1e6:.1f}M parameters: identity encoder "
              f"{encoder / 1e9:.1f} GFLOP per face, age modulator + decoder {per_age / 1e9:.1f} GFLOP per age",
              flush=True)
        results = sweep_paths(export, generator, size, args.sweep_ages, args.repeats, os.cpu_count() or 1)
        counts = args.sweep_ages
        print(f"\none face, {size} px, median of {args.repeats} after one warm-up; difference: largest, in uint8 "
              "levels, from the `with_face_mask` rows\n")
        print("| path | " + " | ".join(f"{a} ages: s / GFLOP/s / of peak / diff" for a in counts) + " |\n|---|"
              + "---|" * len(counts))
        for label, by_count in results.items():
            once = "encode once" in label or "`age_sweep`" in label
            cells = []
            for count in counts:
                seconds, difference = by_count[count]
                flops = (encoder if once else encoder * count) + per_age * count
                rate = flops / seconds / 1e9
                cells.append(f"{seconds:.2f} / {rate:.0f} / {rate / peak:.0%} / {difference}")
            print(f"| {label} | " + " | ".join(cells) + " |", flush=True)

        print(f"\n`ragan-tf age` end to end, paper size {size} px, median of {args.repeats} (seconds per photo)\n")
        print("| generator path | ages | photo | detect | align | generator | paste-back | total |\n"
              "| --- | --- | --- | --- | --- | --- | --- | --- |")
        paths = photos(folder)
        ager = Ager(export)
        sweep = ager._age_sweep
        runs = [("age_sweep", sweep, "float32"), ("one row per age", None, "float32")]
        if native_bfloat16_flags():
            runs.insert(0, ("age_sweep, --precision bfloat16", sweep, "bfloat16"))
        for label, signature, precision in runs:
            set_precision(precision)
            ager._age_sweep = signature
            for count in counts:
                ages = np.linspace(1, 80, count).round().astype(int).tolist()
                for photo, path in paths.items():
                    ager.age_photo(path, ages)
                    timings = [ager.age_photo(path, ages).timings for _ in range(args.repeats)]
                    times = {key: statistics.median(run[key] for run in timings) for key in timings[0]}
                    cells = " | ".join(f"{times[key]:.2f}" for key in
                                       ("detect_s", "align_s", "generator_s", "paste_back_s"))
                    print(f"| {label} | {count} | {photo} | {cells} | {sum(times.values()):.2f} |", flush=True)
    print(f"load average before {before}, after {load_average()}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--formats", action="store_true",
                        help="latency per export format (SavedModel, TFLite float32/float16, ONNX) instead")
    parser.add_argument("--sizes", nargs="+", type=int,
                        help="image sizes (default 64 128 256; with --formats 64 256)")
    parser.add_argument("--configs", nargs="+", choices=sorted(PIPELINES),
                        help="widths (default quickstart paper; with --formats quickstart)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, help="timed runs per median (default 5; with --formats 30)")
    parser.add_argument("--tflite-threads", nargs="+", type=int,
                        help=f"--formats: TFLite num_threads to time (default 1, the interpreters' own default, "
                             f"and {os.cpu_count()}, every CPU)")
    parser.add_argument("--ages", nargs="+", type=int, default=[5, 20, 40, 70])
    parser.add_argument("--sweep", action="store_true",
                        help="encode once, every age: paper size at 256 px, per path (issue 18) instead")
    parser.add_argument("--sweep-ages", nargs="+", type=int, default=[4, 10],
                        help="--sweep: numbers of target ages per face (default 4 10)")
    args = parser.parse_args()
    if args.sweep:
        args.repeats = args.repeats or 3
        sweep_benchmark(args)
        return
    if args.formats:
        args.sizes = args.sizes or [64, 256]
        args.configs = args.configs or ["quickstart"]
        args.repeats = args.repeats or 30
        args.tflite_threads = args.tflite_threads or sorted({1, os.cpu_count() or 1})
        formats_benchmark(args)
        return
    args.sizes = args.sizes or [64, 128, 256]
    args.configs = args.configs or ["quickstart", "paper"]
    args.repeats = args.repeats or 5
    if args.quick:
        args.sizes, args.configs, args.repeats = [64], ["quickstart"], 3
    devices = [device.name for device in tf.config.list_logical_devices()]
    print(f"inference benchmark; {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"devices {devices}; TF {tf.__version__}")
    print("| config | px | G params | latency, 1 image (s) | throughput, batch "
          f"{args.batch} (images/s) |\n| --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as folder:
        exports = {}
        for config_name in args.configs:
            for size in args.sizes:
                export, params = make_export(config_name, size, folder)
                exports[config_name, size] = export
                latency, throughput = saved_model_speed(export, size, args.batch, args.repeats)
                print(f"| {config_name} | {size} | {params / 1e6:.2f}M | {latency:.3f} | {throughput:.1f} |", flush=True)

        print(f"\n`ragan-tf age` end to end, {len(args.ages)} target ages, median of {args.repeats} "
              "(seconds per photo)\n")
        print("| model | photo | load | detect | align | generator | paste-back | total |\n"
              "| --- | --- | --- | --- | --- | --- | --- | --- |")
        paths = photos(folder)
        for (config_name, size), export in exports.items():
            for label, times in end_to_end(export, paths, args.ages, args.repeats):
                cells = " | ".join(f"{times[key]:.3f}" for key in
                                   ("load_s", "detect_s", "align_s", "generator_s", "paste_back_s"))
                print(f"| {config_name} {size} px | {label} | {cells} | {sum(times.values()):.3f} |", flush=True)


if __name__ == "__main__":
    main()
