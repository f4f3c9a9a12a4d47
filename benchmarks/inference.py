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
    args = parser.parse_args()
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
