"""What `ragan-tf age` writes for one photo: one image per age, a strip, an animated GIF.

All files of a photo are first written into a hidden staging folder next to
them and moved into place only when every one succeeded, so a failure
leaves no partial output. Files that were in the folder before are not
overwritten (`OutputExistsError`) unless asked; two photos of one batch that
would write the same names get distinct ones (`unique_name`).
"""

import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from ragan_tf.errors import RaganError
from ragan_tf.faces.photo_io import detection_image, save_photo
from ragan_tf.visualization import image_grid

STRIP_HEIGHT = 384
GIF_MAX_SIDE = 480
GIF_FRAME_MS = 120


class OutputExistsError(RaganError):
    """An output file that was in the output folder before `ragan-tf age` ran."""


def _shrink_to_height(image, max_height):
    height, width = image.shape[:2]
    if height <= max_height:
        return image
    size = (max(1, round(width * max_height / height)), max_height)
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def age_strip(result):
    """The input and every target age side by side, labelled; uint8 RGB."""
    cells = [_shrink_to_height(image, STRIP_HEIGHT) for image in [result.original, *result.photos]]
    labels = ["input"] + [f"age {age}" for age in result.ages]
    return image_grid(np.stack(cells)[None], column_labels=labels)


def gif_frames(ages, frames):
    """Labelled, downscaled frames that sweep forward and back (ping-pong)."""
    labelled = []
    for age, frame in zip(ages, frames):
        # the longest-side shrink that detection uses; copy: putText draws in place
        frame = detection_image(np.ascontiguousarray(frame), GIF_MAX_SIDE)[0].copy()
        scale = max(0.4, frame.shape[0] / 400)
        cv2.putText(frame, f"age {age:.0f}", (8, int(28 * scale)), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 3, cv2.LINE_AA)
        cv2.putText(frame, f"age {age:.0f}", (8, int(28 * scale)), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
        labelled.append(frame)
    return labelled + labelled[-2:0:-1]


def save_gif(frames, path):
    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=GIF_FRAME_MS, loop=0, optimize=True)


def output_names(source, ages, num_faces, strip=True, gif=True, crops=False):
    """File names (no folder) of everything written for `source`, in writing order."""
    stem, suffix = Path(source).stem, Path(source).suffix.lower()
    suffix = suffix if suffix in (".png", ".jpg", ".jpeg") else ".png"
    names = [f"{stem}_age{age}{suffix}" for age in ages]
    if strip:
        names.append(f"{stem}_strip.jpg")
    if gif:
        names.append(f"{stem}_ages.gif")
    if crops:
        names += [f"{stem}_face{face}_aligned.png" for face in range(num_faces)]
        names += [f"{stem}_face{face}_age{age}.png" for face in range(num_faces) for age in ages]
    return names


def unique_name(source, taken, ages, num_faces, strip=True, gif=True, crops=False):
    """The file name to name `source`'s outputs after, unique within a batch.

    Args:
        source: the photo's path or file name.
        taken: case-folded output names already written by the batch (case-
            insensitive file systems would merge `Face_age5.jpg` and `face_age5.jpg`).
        ages, num_faces, strip, gif, crops: as for `output_names`.

    Returns:
        `source`'s own file name, or the first of `stem-2.ext`, `stem-3.ext`, ...
        none of whose `output_names` is in `taken`.
    """
    path = Path(source)
    name, number = path.name, 1
    while any(output.casefold() in taken for output in output_names(name, ages, num_faces, strip, gif, crops)):
        number += 1
        name = f"{path.stem}-{number}{path.suffix}"
    return name


def refuse_existing(out_dir, names):
    """Raises `OutputExistsError` naming the first of `names` already in `out_dir` (and how many more)."""
    existing = [name for name in dict.fromkeys(names) if (Path(out_dir) / name).exists()]
    if existing:
        more = f" and {len(existing) - 1} more output name(s)" if len(existing) > 1 else ""
        raise OutputExistsError(
            f"{out_dir} already holds {existing[0]}{more} from before this command; outputs never "
            "overwrite existing files: move them away, choose another --out or pass --overwrite."
        )


def write_outputs(result, out_dir, sweep=None, strip=True, crops=False, name=None, overwrite=False):
    """Writes every output of one `AgingResult` into `out_dir`, all or nothing.

    Args:
        result: an `AgingResult`.
        out_dir: destination folder (created).
        sweep: `(ages, frames)` from `Ager.sweep` for the GIF, or None for no GIF.
        strip: write the side-by-side strip.
        crops: also write the aligned crops and the generator's aged crops.
        name: the file name the outputs are named after (see `unique_name`);
            default `result.source`.
        overwrite: replace files of the same names; otherwise they are refused.

    Returns:
        The list of written paths.

    Raises:
        OutputExistsError: an output name is taken in `out_dir` (without
            `overwrite`); nothing is written.
    """
    out_dir = Path(out_dir)
    names = output_names(name or result.source, result.ages, len(result.faces), strip, sweep is not None, crops)
    if not overwrite:
        refuse_existing(out_dir, names)
    out_dir.mkdir(parents=True, exist_ok=True)
    photo = result.photo
    alpha = photo.alpha if photo is not None else None
    greyscale = bool(photo is not None and photo.greyscale)
    staging = Path(tempfile.mkdtemp(prefix=".ragan-tf-age.", dir=out_dir))
    try:
        images = iter(names)
        for image in result.photos:
            save_photo(image, staging / next(images), alpha=alpha, greyscale=greyscale)
        if strip:
            save_photo(age_strip(result), staging / next(images))
        if sweep is not None:
            save_gif(gif_frames(*sweep), staging / next(images))
        if crops:
            for face in result.faces:
                save_photo(face.crop, staging / next(images))
            for aged in result.aged_crops:
                for crop in aged:
                    save_photo(crop, staging / next(images))
        written = []
        try:
            for output in names:
                (staging / output).replace(out_dir / output)
                written.append(out_dir / output)
        except BaseException:  # Ctrl-C too: take back the files already moved
            for path in written:
                path.unlink(missing_ok=True)
            raise
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)
