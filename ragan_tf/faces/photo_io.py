"""Reading and writing users' photos safely.

`load_photo` turns whatever a user points at (JPEG from a phone, 16-bit or
greyscale PNG, transparent PNG, CMYK JPEG) into one uint8 RGB array, upright,
and remembers what it needs to write the result back in the same spirit
(alpha channel, greyscale). It refuses decompression bombs by their header
before a single pixel is decoded, and every failure is a `PhotoError` whose
message names the file, says what is wrong and what to do.

`save_photo` writes atomically: a temporary file in the destination folder,
then `os.replace`, so an encoder error or a crash never leaves a half-written
photo under the destination's name (or clobbers an existing one).

Example:
    >>> photo = load_photo("me.jpg")
    >>> small, scale = detection_image(photo.rgb)
    >>> save_photo(photo.rgb, "me_copy.png", alpha=photo.alpha, greyscale=photo.greyscale)
"""

import contextlib
import dataclasses
import os
import secrets
import threading
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import ExifTags, Image

from ragan_tf.errors import RaganError

DEFAULT_MAX_PIXELS = 100_000_000
DEFAULT_JPEG_QUALITY = 95

# Modes PIL gives single-channel files (with or without alpha).
_GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_SIXTEEN_BIT_MAX = 65535.0

# EXIF orientation -> the operation on a stored [H, W, ...] array that makes it upright
# (the same operations as PIL.ImageOps.exif_transpose; the tests check they agree).
_ORIENTATIONS = {
    2: lambda array: array[:, ::-1],
    3: lambda array: array[::-1, ::-1],
    4: lambda array: array[::-1],
    5: lambda array: array.swapaxes(0, 1),
    6: lambda array: np.rot90(array, -1),
    7: lambda array: array[::-1, ::-1].swapaxes(0, 1),
    8: lambda array: np.rot90(array, 1),
}

_SAVE_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
}
_ALPHA_FORMATS = frozenset({"PNG", "TIFF", "WEBP"})

# PIL's own bomb limit is a module global; loads swap it under this lock.
_PIL_LIMIT_LOCK = threading.Lock()


class PhotoError(RaganError, ValueError):
    """A photo that cannot be read or written; the message names the file and the fix."""


@dataclasses.dataclass
class Photo:
    """A decoded photo.

    Attributes:
        rgb: uint8 [H, W, 3], EXIF orientation already applied.
        path: the file it came from.
        alpha: uint8 [H, W] when the file had transparency, else None.
        greyscale: the file was single-channel (L, LA, I;16, ...); `rgb` then
            has three equal channels.
        bit_depth: 8, or 16 for 16-bit files (scaled to 8 bit in `rgb`).
    """

    rgb: np.ndarray
    path: str
    alpha: np.ndarray | None = None
    greyscale: bool = False
    bit_depth: int = 8


def _megapixels(pixels):
    return f"{pixels / 1e6:.4g} MP"


def _check_pixels(path, size, max_pixels):
    width, height = size
    if max_pixels is not None and width * height > max_pixels:
        raise PhotoError(
            f"{path}: {width}x{height} pixels ({_megapixels(width * height)}) exceeds the limit of "
            f"{_megapixels(max_pixels)}; this refuses decompression bombs; pass --max-pixels "
            "(max_pixels= in Python) to allow it."
        )


def _check_readable_file(path):
    if not os.path.exists(path):
        raise PhotoError(f"{path}: no such file; check the path and its spelling.")
    if os.path.isdir(path):
        raise PhotoError(f"{path}: is a folder, not a photo; pass an image file (JPEG, PNG, ...).")


@contextlib.contextmanager
def _pil_bomb_limit(max_pixels):
    """PIL's global bomb check set to `max_pixels`, its warning an error, for one load.

    Our own check reads the header first; this only makes any later check PIL
    does while decoding (frames, sub-images) agree with it.
    """
    with _PIL_LIMIT_LOCK, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        previous = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = previous


def _open(path):
    """Image.open (header only) with PIL's bomb check off: `_check_pixels` replaces it."""
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        return Image.open(path)
    except Image.UnidentifiedImageError:
        raise PhotoError(
            f"{path}: not an image file PIL can read; pass a JPEG, PNG, WebP, TIFF or BMP photo."
        ) from None
    except OSError as error:
        raise PhotoError(f"{path}: cannot be opened ({error}); check the file's permissions.") from error
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def _raw_mode(image):
    """The file's own pixel layout (e.g. 'RGB;16B' for a 16-bit colour PNG), before decoding."""
    return str(image.tile[0].args) if image.tile else ""


def _is_16_bit(image):
    return image.mode.startswith("I") or ";16" in _raw_mode(image)


def _pil_truncates(image):
    """PIL keeps only the high byte of 16-bit colour PNG / TIFF; OpenCV reads those instead."""
    return image.format in ("PNG", "TIFF") and ";16" in _raw_mode(image) and not image.mode.startswith("I")


def _scale_16_bit(array):
    """Integers in [0, 65535] (larger ones clip) -> uint8, value / 257 rounded (65535 -> 255, 257 k -> k)."""
    array = np.clip(np.asarray(array, np.float64), 0.0, _SIXTEEN_BIT_MAX)
    return np.round(array / 257.0).astype(np.uint8)


def _split_channels(array):
    """uint8 [H, W], [H, W, 2], [H, W, 3] or [H, W, 4] (RGB order) -> (rgb [H, W, 3], alpha or None)."""
    if array.ndim == 2:
        return np.repeat(array[:, :, None], 3, axis=2), None
    if array.shape[2] == 2:  # grey + alpha
        return np.repeat(array[:, :, :1], 3, axis=2), array[:, :, 1]
    if array.shape[2] == 4:
        return array[:, :, :3], array[:, :, 3]
    return array, None


def _decode_with_opencv(path):
    array = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None or array.dtype != np.uint16:
        raise OSError("OpenCV could not decode the 16-bit image data")
    if array.ndim == 3:  # OpenCV's channel order is BGR(A)
        array = cv2.cvtColor(array, cv2.COLOR_BGRA2RGBA if array.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    return _scale_16_bit(array)


def _decode_with_pil(image):
    mode = image.mode
    if mode.startswith("I"):  # 16-bit greyscale ("I" is 32-bit; read as 16-bit values)
        return _scale_16_bit(np.asarray(image))
    has_alpha = mode in _ALPHA_MODES or "transparency" in image.info
    if mode in _GREY_MODES:
        return np.asarray(image.convert("LA" if has_alpha else "L"))
    return np.asarray(image.convert("RGBA" if has_alpha else "RGB"))


def _orientation(image):
    try:
        return int(image.getexif().get(ExifTags.Base.Orientation, 1))
    except (TypeError, ValueError, SyntaxError, OSError):  # a broken EXIF block is not fatal
        return 1


def _upright(array, orientation):
    """The array turned upright, as a contiguous, writable array of its own."""
    if array is None:
        return None
    if orientation in _ORIENTATIONS:
        array = _ORIENTATIONS[orientation](array)
    return np.require(array, requirements=["C", "W"])


def _decode(image, path):
    """(rgb, alpha, bit_depth) of an opened, size-checked image."""
    bit_depth = 16 if _is_16_bit(image) else 8  # before decoding, which empties `image.tile`
    pixels = _decode_with_opencv(path) if _pil_truncates(image) else _decode_with_pil(image)
    rgb, alpha = _split_channels(pixels)
    orientation = _orientation(image)
    return _upright(rgb, orientation), _upright(alpha, orientation), bit_depth


def load_photo(path, max_pixels=DEFAULT_MAX_PIXELS) -> Photo:
    """Reads a photo as upright uint8 RGB, refusing decompression bombs before decoding.

    Args:
        path: the image file (JPEG, PNG, WebP, TIFF, BMP, GIF, ... anything PIL reads).
        max_pixels: refuse images whose header says width * height exceeds this;
            None disables the check.

    Returns:
        A `Photo`: greyscale files give three equal channels and `greyscale=True`;
        transparency is kept in `alpha`; 16-bit files are scaled by 1/257.

    Raises:
        PhotoError: missing file, a folder, not an image, too many pixels, or
            truncated / corrupt data.

    Example:
        >>> photo = load_photo("portrait.jpg")
        >>> photo.rgb.shape, photo.greyscale
        ((1200, 900, 3), False)
    """
    path = os.fspath(path)
    _check_readable_file(path)
    with _pil_bomb_limit(max_pixels):
        with _open(path) as image:
            _check_pixels(path, image.size, max_pixels)
            greyscale = image.mode in _GREY_MODES
            try:
                rgb, alpha, bit_depth = _decode(image, path)
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
                raise PhotoError(
                    f"{path}: {error}; this refuses decompression bombs; pass --max-pixels "
                    "(max_pixels= in Python) to allow it."
                ) from error
            except (OSError, SyntaxError, ValueError, EOFError, IndexError, cv2.error) as error:
                raise PhotoError(
                    f"{path}: the image data could not be decoded ({error}); the file is probably "
                    "truncated or corrupt: re-export or re-download it."
                ) from error
    return Photo(rgb=rgb, path=path, alpha=alpha, greyscale=greyscale, bit_depth=bit_depth)


def _save_format(path):
    suffix = Path(path).suffix.lower()
    if suffix not in _SAVE_FORMATS:
        raise PhotoError(
            f"{path}: cannot write '{suffix or 'no extension'}' files; use one of "
            f"{', '.join(sorted(_SAVE_FORMATS))}."
        )
    return _SAVE_FORMATS[suffix]


def _check_rgb(rgb, path):
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise PhotoError(f"{path}: save_photo needs uint8 [H, W, 3] RGB; got {rgb.dtype} {rgb.shape}.")
    return rgb


def _pil_image(rgb, alpha, greyscale, image_format, path):
    image = Image.fromarray(rgb, "RGB")
    if greyscale:
        image = image.convert("L")
    if alpha is not None and image_format in _ALPHA_FORMATS:
        alpha = np.asarray(alpha, np.uint8)
        if alpha.shape != rgb.shape[:2]:
            raise PhotoError(f"{path}: alpha has shape {alpha.shape} but the image is {rgb.shape[:2]}.")
        image.putalpha(Image.fromarray(alpha, "L"))
    return image


def _temporary_path(path):
    """An unused name beside `path`, created empty with the usual permissions (umask applies)."""
    folder, name = os.path.split(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise PhotoError(f"{path}: the folder {folder} does not exist; create it first.")
    while True:
        candidate = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp")
        try:
            os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return candidate
        except FileExistsError:
            continue
        except OSError as error:
            raise PhotoError(f"{path}: cannot write in {folder} ({error}); check its permissions.") from error


def save_photo(rgb, path, alpha=None, greyscale=False, quality=DEFAULT_JPEG_QUALITY):
    """Writes uint8 RGB to PNG / JPEG / WebP / TIFF / BMP (by extension), atomically.

    Args:
        rgb: uint8 [H, W, 3], or a `Photo` (its alpha and greyscale then apply
            unless given here).
        path: destination; its extension picks the format.
        alpha: optional uint8 [H, W] reattached where the format has alpha
            (PNG, WebP, TIFF); JPEG and BMP drop it.
        greyscale: write one channel (luma), so a grey photo stays grey.
        quality: JPEG / WebP quality.

    Returns:
        The path written, as a str.

    Raises:
        PhotoError: unsupported extension, missing folder, bad array, or the
            encoder failed; the destination is then untouched and no
            temporary file is left behind.
    """
    if isinstance(rgb, Photo):
        alpha = rgb.alpha if alpha is None else alpha
        greyscale = greyscale or rgb.greyscale
        rgb = rgb.rgb
    path = os.fspath(path)
    image_format = _save_format(path)
    image = _pil_image(_check_rgb(rgb, path), alpha, greyscale, image_format, path)
    temporary = _temporary_path(path)
    try:
        options = {"quality": quality} if image_format in ("JPEG", "WEBP") else {}
        image.save(temporary, format=image_format, **options)
        os.replace(temporary, path)
    except BaseException as error:  # Ctrl-C too: never leave the temporary behind
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        if not isinstance(error, Exception):
            raise
        raise PhotoError(f"{path}: writing failed ({error}); nothing was written.") from error
    return path


def detection_image(rgb, max_side=1024):
    """Shrinks a photo so its longer side is at most `max_side`, for face detection.

    Detectors are slow and no more accurate on 50-megapixel photos; landmarks
    are then refined on the full-resolution image.

    Args:
        rgb: uint8 [H, W, 3].
        max_side: longest side of the result; images already small enough come
            back unchanged (not copied) with scale 1.

    Returns:
        (small_rgb, scale) with scale = small size / original size (<= 1). With
        pixel centres at integer coordinates, a point (x, y) of `small_rgb` is
        ((x + 0.5) / scale - 0.5, (y + 0.5) / scale - 0.5) in `rgb` (exact along
        the longer side; the shorter side's size is rounded to whole pixels, so
        there within half a small pixel).
    """
    height, width = rgb.shape[:2]
    scale = min(1.0, float(max_side) / max(height, width))
    if scale >= 1.0:
        return rgb, 1.0
    size = (max(1, int(round(width * scale))), max(1, int(round(height * scale))))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), scale
