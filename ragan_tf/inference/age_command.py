"""`ragan-tf age`: many photos, a progress bar, per-photo errors that name the file.

Arguments are checked before any photo is read: target ages (0-120), the GIF
frame count, `--out` (a folder, or a path where one can be made) and `--model`
(an export of an age transformer: its folder, an archive of it or its URL,
`ragan_tf.export.model_source`); a bad one ends the command with one line
naming it (exit code 2 from the CLI). Then each photo is aged on its own: one
that cannot be read, is too small to hold a face (refused before detection),
has no face or cannot be written is reported in one line naming it and leaves
no output file, and the other photos are still processed; the exit code is
then 1. Any other exception is a bug and stops the command with its traceback.

Outputs are named after the photo (`face.jpg` -> `face_age5.jpg`, ...; see
`outputs.output_names`). When photos of one batch would write the same names
(`a/face.jpg` and `b/face.jpg`), the first keeps them and the later ones are
named `face-2`, `face-3`, ... in command-line order; each progress line says
which names a photo got. Files that were in `--out` before the command ran are
never overwritten: the command refuses to start when one of the photos'
output names is taken, and a photo whose outputs would replace such a file
fails (`overwrite=True` replaces them instead).
"""

import sys
import time
from pathlib import Path

from ragan_tf.errors import RaganError
from ragan_tf.inference.ager import Ager, AgingError, check_ages
from ragan_tf.inference.outputs import output_names, refuse_existing, unique_name, write_outputs


def check_gif_frames(gif_frames):
    """A clear error unless `gif_frames` is 0 (no GIF) or at least 2."""
    if gif_frames < 0 or gif_frames == 1:
        raise AgingError(f"--gif-frames must be 0 (no GIF) or at least 2; got {gif_frames}.")


def check_out_dir(out_dir):
    """A clear error when `out_dir` is a file, or lies inside one (so no folder can be made there)."""
    for folder in (out_dir, *out_dir.parents):
        if folder.exists():
            if not folder.is_dir():
                raise AgingError(f"--out {out_dir}: {folder} is a file, not a folder; choose another --out.")
            return


def age_photos(photos, model, ages, out_dir, detector="auto", gif_frames=16, strip=True, crops=False,
               max_pixels=100_000_000, ager=None, overwrite=False, source_age=None, gender=None, sha256=None,
               runtime="saved_model", precision="float32"):
    """Ages every photo; writes its outputs or, on failure, nothing for it.

    Args:
        photos: photo paths, in the order their outputs are named (see the module docstring).
        model: an export folder (`ragan-tf export`), an archive of one or its URL; unused
            when `ager` is given.
        ages: target ages in years.
        out_dir: output folder, created when the first photo's outputs are written.
        detector, max_pixels: as for `Ager`.
        gif_frames: frames of the animated sweep; 0 for no GIF.
        strip, crops: write the side-by-side strip, the aligned and aged crops.
        ager: an `Ager` to reuse instead of loading `model`.
        source_age, gender: the faces' own age and gender for models that read them (`Ager`).
        overwrite: replace files already in `out_dir` instead of refusing them.
        sha256: the expected SHA-256 of `model` when it is an archive or a URL, or None.
        runtime: `"saved_model"` or `"onnx"` (the export's `model.onnx`), as for `Ager`.
        precision: `"float32"` or `"bfloat16"` (CPUs with it in hardware), as for `Ager`.

    Returns:
        The exit code: 0 when every photo succeeded, 1 when any failed (each
        failure is printed to stderr with its file name).

    Raises:
        RaganError: a bad target age, `gif_frames`, `out_dir` or `model`, or
            (without `overwrite`) output names already taken in `out_dir`.
    """
    ages = check_ages(ages)
    check_gif_frames(gif_frames)
    out_dir = Path(out_dir)
    check_out_dir(out_dir)
    if not overwrite:  # refuse a rerun into the same folder before any work
        refuse_existing(out_dir, [name for path in photos
                                  for name in output_names(Path(path).name, ages, 0, strip, gif_frames > 0)])
    ager = ager or Ager(model, detector=detector, max_pixels=max_pixels, source_age=source_age, gender=gender,
                        sha256=sha256, runtime=runtime, precision=precision)
    failures, renamed, taken, faces = [], [], set(), 0
    for index, path in enumerate(photos, 1):
        start = time.perf_counter()
        try:
            result = ager.age_photo(path, ages)
            sweep = ager.sweep(result, gif_frames) if gif_frames else None
            name = unique_name(path, taken, ages, len(result.faces), strip, sweep is not None, crops)
            written = write_outputs(result, out_dir, sweep, strip=strip, crops=crops, name=name, overwrite=overwrite)
        except (RaganError, OSError) as error:  # known failures of this photo; anything else is a bug
            message = str(error)
            failures.append(message if str(path) in message else f"{path}: {message}")
            status = "failed"
        else:
            taken.update(output.name.casefold() for output in written)
            faces += len(result.faces)
            stem = Path(name).stem
            if name != Path(path).name:
                renamed.append(f"{path} -> {stem}_*")
            status = f"{len(result.faces)} face(s), {len(written)} files as {stem}_*"
            if result.sources:
                genders = {0: "male", 1: "female", -1: "unknown gender"}
                status += "; source " + ", ".join(f"{'unknown age' if age < 0 else f'age {age}'} {genders[gender]}"
                                                  for age, gender in result.sources)
        print(f"[{index}/{len(photos)}] {path}: {status} ({time.perf_counter() - start:.1f} s)", file=sys.stderr)
    for failure in failures:
        print(f"ragan-tf age: error: {failure}", file=sys.stderr)
    done = len(photos) - len(failures)
    failed = f"; {len(failures)} failed (errors above)" if failures else ""
    print(f"Aged {faces} face(s) in {done} of {len(photos)} photo(s) to ages {ages}{failed}; outputs in {out_dir}")
    if renamed:
        print(f"Renamed to keep output names unique: {'; '.join(renamed)}")
    return 1 if failures else 0
