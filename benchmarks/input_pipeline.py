"""Input-pipeline and `prepare` throughput on this machine.

1. `prepare` rate: synthetic faces saved as 256 px JPEG photos in a user
   folder (`folder` dataset), detected with dlib, aligned FFHQ-Aging style,
   landmark masks, written as TFRecords: images/s with all CPU cores.
2. Training-pipeline rate: images/s delivered by `make_dataset` (training
   mode: file interleave, shuffle, decode, flip, batch) from prepared
   TFRecords at each size and storage format, as float32 or uint8 batches
   (`data.image_dtype`), with and without balanced age-group sampling
   (ages drawn uniformly in 5-85 years, so the FFHQ-Aging groups are
   unequal: 0-2 is empty, 50-69 holds a quarter). The images are noise (decoding cost does not depend
   on content for raw storage; for PNG/JPEG noise is the worst case).

Usage:
    python benchmarks/input_pipeline.py                       # everything
    python benchmarks/input_pipeline.py --parts pipeline --sizes 256 --formats raw
"""

import argparse
import os
import shutil
import tempfile
import time

import cv2
import numpy as np
import pandas as pd

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def write_folder(root, count, size, faces, seed=0):
    """A `folder` dataset: `count` images (synthetic faces or noise) with ages 5-85 and labels.csv."""
    from ragan_tf.data.synthetic_faces import render

    rng = np.random.default_rng(seed)
    os.makedirs(root, exist_ok=True)
    rows = []
    for index in range(count):
        age = int(rng.integers(5, 86))
        name = f"{index:06d}.{'jpg' if faces else 'png'}"
        if faces:
            image = render(index, float(age), size).image
        else:
            image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        cv2.imwrite(os.path.join(root, name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        rows.append({"file": name, "age": age, "identity": index, "split": "train"})
    pd.DataFrame(rows).to_csv(os.path.join(root, "labels.csv"), index=False)
    return root


def prepare_rate(work, count, workers, detector):
    from ragan_tf.data.prepare import prepare

    raw = os.path.join(work, "faces_raw")
    if not os.path.exists(os.path.join(raw, "labels.csv")):
        write_folder(raw, count, 256, faces=True)
    report = prepare(
        "folder", raw, os.path.join(work, f"faces_prepared_{detector}"), image_size=256,
        shard_size=max(1, count // 8), workers=workers, detector=detector, progress=lambda line: None,
    )
    processed = report.settings["processed_now"]
    print(
        f"prepare: {processed} photos 256 px -> 256 px FFHQ-Aging crops, dlib {detector!r} detector, landmark "
        f"masks, {workers} worker processes (start-up included): {report.seconds:.1f} s = "
        f"{processed / report.seconds:.1f} images/s; written {sum(report.written.values())}, "
        f"skipped {report.skipped}"
    )


def pipeline_rate(work, size, image_format, count, batch_size, batches, balanced, image_dtype):
    import dataclasses

    from ragan_tf.config import DataConfig
    from ragan_tf.data.pipeline import make_dataset
    from ragan_tf.data.prepare import prepare

    out = os.path.join(work, f"noise_{size}_{image_format}")
    if not os.path.exists(os.path.join(out, "dataset_info.json")):
        raw = write_folder(os.path.join(work, f"noise_raw_{size}"), count, size, faces=False) \
            if not os.path.exists(os.path.join(work, f"noise_raw_{size}", "labels.csv")) \
            else os.path.join(work, f"noise_raw_{size}")
        prepare("folder", raw, out, image_size=size, alignment="none", mask="none", image_format=image_format,
                shard_size=max(1, count // 16), progress=lambda line: None)
    config = DataConfig(dataset="folder", data_dir=out, image_size=size, cache=False, shuffle_buffer=1024)
    config = dataclasses.replace(config, balance_age_groups=balanced, image_dtype=image_dtype)
    dataset = make_dataset(config, "train", batch_size, training=True, seed=1)
    iterator = iter(dataset)
    for _ in range(3):  # warm-up: graph tracing, file opening, shuffle buffer
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        batch = next(iterator)
    batch["image"].numpy()
    seconds = time.perf_counter() - start
    disk = sum(os.path.getsize(os.path.join(out, name)) for name in os.listdir(out) if ".tfrecord" in name) / count
    rate = batches * batch_size / seconds
    print(
        f"pipeline: {size} px, {image_format:4s} -> {image_dtype:7s} batches, balanced={str(balanced):5s}: "
        f"{rate:7.0f} images/s "
        f"({batches} batches of {batch_size}; {disk / 1024:.0f} KiB per example on disk)"
    )
    return rate


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="+", default=["prepare", "pipeline"], choices=["prepare", "pipeline"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[128, 256])
    parser.add_argument("--formats", nargs="+", default=["raw", "png", "jpeg"])
    parser.add_argument("--images", type=int, default=2048, help="prepared examples per pipeline dataset")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "uint8"], help="data.image_dtype values")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--prepare-images", type=int, default=160)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--detectors", nargs="+", default=["auto", "hog"], help="prepare: dlib detectors to time")
    parser.add_argument("--work-dir", help="keep the generated data here (default: a temporary folder)")
    args = parser.parse_args()

    work = args.work_dir or tempfile.mkdtemp(prefix="ragan_input_bench_")
    print(f"CPU cores: {os.cpu_count()}; work folder {work}")
    try:
        if "prepare" in args.parts:
            for detector in args.detectors:
                prepare_rate(work, args.prepare_images, args.workers, detector)
        if "pipeline" in args.parts:
            common = (args.images, args.batch_size, args.batches)
            for size in args.sizes:
                for image_format in args.formats:
                    for image_dtype in args.dtypes:
                        pipeline_rate(work, size, image_format, *common, False, image_dtype)
                for image_dtype in args.dtypes:
                    pipeline_rate(work, size, args.formats[0], *common, True, image_dtype)
    finally:
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
