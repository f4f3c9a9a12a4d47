"""`ragan-tf age`: many photos, a progress bar, per-photo errors that name the file."""

import sys
import time

from ragan_tf.faces.photo_io import PhotoError
from ragan_tf.inference.ager import Ager, check_ages
from ragan_tf.inference.outputs import write_outputs


def age_photos(photos, model, ages, out_dir, detector="auto", gif_frames=16, strip=True, crops=False,
               max_pixels=100_000_000, ager=None):
    """Ages every photo; writes its outputs or, on failure, nothing for it.

    Returns:
        The exit code: 0 when every photo succeeded, 1 when any failed (each
        failure is printed to stderr with its file name).
    """
    ages = check_ages(ages)
    if gif_frames < 0 or gif_frames == 1:
        raise ValueError(f"--gif-frames must be 0 (no GIF) or at least 2; got {gif_frames}.")
    ager = ager or Ager(model, detector=detector, max_pixels=max_pixels)
    failures, faces = [], 0
    for index, path in enumerate(photos, 1):
        start = time.perf_counter()
        try:
            result = ager.age_photo(path, ages)
            sweep = ager.sweep(result, gif_frames) if gif_frames else None
            written = write_outputs(result, out_dir, sweep, strip=strip, crops=crops)
        except (PhotoError, OSError) as error:
            message = str(error)
            failures.append(message if str(path) in message else f"{path}: {message}")
            status = "failed"
        else:
            faces += len(result.faces)
            status = f"{len(result.faces)} face(s), {len(written)} files"
        print(f"[{index}/{len(photos)}] {path}: {status} ({time.perf_counter() - start:.1f} s)", file=sys.stderr)
    for failure in failures:
        print(f"ragan-tf age: error: {failure}", file=sys.stderr)
    done = len(photos) - len(failures)
    print(f"Aged {faces} face(s) in {done} of {len(photos)} photo(s) to ages {ages}; outputs in {out_dir}")
    return 1 if failures else 0
