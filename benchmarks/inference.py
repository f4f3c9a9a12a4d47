"""Inference speed: SavedModel latency and batch throughput, and `ragan-tf age` end to end.

1. For each size (64, 128, 256 px) and width (quick-start, paper-size):
   builds a generator (random weights: speed does not depend on them),
   exports it exactly as `ragan-tf export` does, loads the SavedModel and
   times `serving_default` on one image (latency) and on a batch
   (images/s).
2. End to end with `Ager` on photos: seconds per photo split into load,
   detection, alignment, generator and paste-back (median of repeats).

    python benchmarks/inference.py                 # everything (about 10 min on 2 CPU cores)
    python benchmarks/inference.py --quick         # 64 px quick-start width only
"""

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

from ragan_tf.config import load_config, save_config  # noqa: E402
from ragan_tf.data.synthetic_faces import render  # noqa: E402
from ragan_tf.export import export_saved_model  # noqa: E402
from ragan_tf.inference.ager import Ager  # noqa: E402
from ragan_tf.models.ragan.ragan_family import build_generator  # noqa: E402

PIPELINES = {
    "quickstart": Path(__file__).resolve().parents[1] / "pipelines" / "ragan_synthetic_quickstart.yaml",
    "paper": Path(__file__).resolve().parents[1] / "pipelines" / "ragan_synthetic_256.yaml",
}


def make_export(config_name, size, folder):
    """A run folder with a random-weight generator, exported; returns the SavedModel path."""
    run = Path(folder) / f"{config_name}_{size}_run"
    config = load_config(PIPELINES[config_name], [f"data.image_size={size}", f"runtime.run_dir={run}"])
    run.mkdir(parents=True)
    generator = build_generator(config)
    generator.save(run / "inference_model.keras")
    save_config(config, run / "config.yaml")
    return export_saved_model(run, Path(folder) / f"{config_name}_{size}", verbose=False), generator.count_params()


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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", nargs="+", type=int, default=[64, 128, 256])
    parser.add_argument("--configs", nargs="+", default=["quickstart", "paper"], choices=sorted(PIPELINES))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ages", nargs="+", type=int, default=[5, 20, 40, 70])
    args = parser.parse_args()
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
