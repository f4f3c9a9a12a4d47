"""`ragan-tf prepare` throughput on a real dataset folder, for every dlib detector.

    python benchmarks/prepare_throughput.py MANUAL_DIR [--dataset utkface] [--limit 150] [--size 64] [--workers 2]

Prepares `--limit` images per split (spread over the ages, as `--limit`
does) once per detector (`hog`, `auto`, `cnn`) into temporary folders and
prints images per second, and how many images got landmark masks, no face
(`mask_source: none`) or were skipped. The detectors run in the same order
each time; compare their ratios within one run (the machine's load changes
between runs).
"""

import argparse
import tempfile
import time
from pathlib import Path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manual_dir", type=Path)
    parser.add_argument("--dataset", default="utkface")
    parser.add_argument("--limit", type=int, default=150)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--detectors", nargs="+", default=["hog", "auto", "cnn"])
    args = parser.parse_args()

    from ragan_tf.data.prepare import prepare

    print(f"{args.dataset} from {args.manual_dir}: {args.limit} images per split at {args.size} px, "
          f"{args.workers} workers")
    print(f"{'detector':<9} {'images':>7} {'seconds':>8} {'images/s':>9} {'landmarks':>10} {'no face':>8} "
          f"{'skipped':>8}")
    for detector in args.detectors:
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            report = prepare(args.dataset, args.manual_dir, Path(out) / "prepared", image_size=args.size,
                             workers=args.workers, detector=detector, limit=args.limit, progress=lambda line: None)
            seconds = time.perf_counter() - start
        images = sum(report.written.values()) + sum(report.skipped.values())
        print(f"{detector:<9} {images:>7} {seconds:>8.1f} {images / seconds:>9.1f} "
              f"{report.mask_sources.get('landmarks', 0):>10} {report.mask_sources.get('none', 0):>8} "
              f"{sum(report.skipped.values()):>8}", flush=True)


if __name__ == "__main__":
    main()
