"""`Ager`: age every face in a photo with an exported model, and put the result back.

The steps (each its own module): `ragan_tf.faces.photo_io.load_photo` (EXIF,
greyscale, alpha, 16-bit, decompression bombs), `ragan_tf.faces` (dlib
detection, 68 landmarks, the alignment recipe the model was trained with,
a landmark face mask), the SavedModel's `age_sweep` signature (one call
per face for all target ages; RAGAN encodes the face once for them;
`with_face_mask` with one row per age in exports that lack it), and `paste_back.paste_back_all`
(inverse warp, feathered blend). The result is the whole photo at each age.
With `runtime="onnx"` (`ragan-tf age --runtime onnx`) the export's
`model.onnx` (`ragan-tf export --onnx`: the float core `generate`) runs in
onnxruntime instead, wrapped in the resizing and uint8 conversion
`with_face_mask` does around that core (`onnx_age_crops`).

The crop is the model card's `alignment`, the one its training data was
prepared with (`ragan_tf.data.provenance`). A model trained on a dataset's
own chips (alignment "none", e.g. UTKFace's aligned chips, which no recipe
reproduces) is fed the photo the way `ragan-tf prepare` fed it those chips:
the photo's centred square, resized (`chip_face`), with the landmark face
mask of its largest face; such a model expects chip-like photos, a face
framed as in its dataset. No recipe is substituted for it: another crop
would put the face at another scale and place than training saw.
"""

import dataclasses
import json
import time
from pathlib import Path

import cv2
import numpy as np

from ragan_tf.errors import RaganError, require_extra
from ragan_tf.faces.affine import transform_points
from ragan_tf.faces.alignment import SPECS, AlignedFace, align_face, get_spec
from ragan_tf.faces.detection import FaceDetector
from ragan_tf.faces.landmark_mask import landmark_face_mask
from ragan_tf.faces.photo_io import DEFAULT_MAX_PIXELS, PhotoError, load_photo
from ragan_tf.inference.paste_back import paste_back_all
from ragan_tf.precision import PrecisionError, check_precision, set_precision

MIN_AGE, MAX_AGE = 0, 120
RUNTIMES = ("saved_model", "onnx")


class AgingError(RaganError, ValueError):
    """Target ages out of range, or a model folder that is not an export of an age transformer."""


class NoFaceError(PhotoError):
    """A photo in which the detector found no face."""


class PhotoTooSmallError(PhotoError):
    """A photo narrower or lower than the smallest face the detectors find."""


@dataclasses.dataclass
class AgingResult:
    """Everything `Ager` produced for one photo.

    Attributes:
        source: the file name (or a caller-given label).
        ages: the target ages, years.
        original: uint8 [H, W, 3], the upright input.
        photos: uint8 [A, H, W, 3], the whole photo at each target age.
        faces: the `AlignedFace` of every detected face, left to right.
        aged_crops: uint8 [F, A, S, S, 3], the generator's output per face and age.
        timings: seconds spent in loading, detection, alignment, generator and paste-back.
        photo: the loaded `Photo` (alpha, greyscale) when read from a file.
    """

    source: str
    ages: list
    original: np.ndarray
    photos: np.ndarray
    faces: list
    aged_crops: np.ndarray
    timings: dict
    photo: object = None
    sources: list = None  # per face, (source age, gender) given to a model that takes them (`with_source`)


def check_ages(ages):
    """Target ages as a list of ints; a clear error for an empty list or an age out of range."""
    ages = [int(age) for age in ages]
    if not ages:
        raise AgingError("Give at least one target age.")
    wrong = [age for age in ages if not MIN_AGE <= age <= MAX_AGE]
    if wrong:
        raise AgingError(f"Target ages must be within {MIN_AGE}-{MAX_AGE} years; got {wrong}.")
    return ages


def read_export_card(model):
    """The model card of the export folder `model`, checked to be one that can age photos.

    Raises:
        AgingError: `model` is missing, a file, a training run folder, a
            folder without (or with a damaged) signature.json, or a sampler's export.
    """
    from ragan_tf.export.model_card import read_model_card  # lazy like tensorflow: ragan_tf.export loads keras

    folder = Path(model)
    if not folder.is_dir():
        problem = "is a file, not a folder" if folder.exists() else "no such folder"
        raise AgingError(f"{model}: {problem}; pass the folder written by `ragan-tf export RUN_DIR --out DIR`.")
    if not (folder / "signature.json").exists() and (folder / "config.yaml").is_file():
        raise AgingError(
            f"{model}: a training run folder, not an export; export it first with "
            f"`ragan-tf export {model} --out DIR` and pass DIR to --model."
        )
    try:
        card = read_model_card(folder)
    except FileNotFoundError as error:  # the message names the folder and the fix
        raise AgingError(str(error)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise AgingError(
            f"{folder / 'signature.json'}: not a readable model card ({error}); the export is damaged: "
            "export the run again."
        ) from None
    model_info = card.get("model", {})
    if "age_transformer" not in model_info.get("tasks", ["age_transformer"]):  # 0.1 cards: RAGAN
        raise AgingError(
            f"{model}: this export is a {model_info.get('type', 'sampler')} sampler: it draws new faces "
            "and cannot age a photo (use its serving_default signature with seed and num_images)."
        )
    card_alignment(card, model)
    return card


def card_alignment(card, model="the model"):
    """The `AlignmentSpec` of a model card's `alignment`, or None for "none" (the chips as they are).

    Raises:
        AgingError: the card records no alignment, or one this version does not know.
    """
    alignment = card.get("alignment")
    if alignment == "none":
        return None
    if alignment is None:
        raise AgingError(f"{model}: the model card (signature.json) records no face alignment, so faces cannot "
                         "be cropped as the model was trained; export the run again with `ragan-tf export`.")
    if not isinstance(alignment, str) or alignment not in SPECS:
        raise AgingError(
            f"{model}: the model card's face alignment {alignment!r} is not one this ragan-tf knows "
            f"({', '.join(SPECS)} or none); use the ragan-tf version that exported it, or export the run again."
        )
    return get_spec(alignment)


def onnx_core(model, card):
    """An onnxruntime session of the export folder `model`'s `model.onnx` (its card: `card`).

    Raises:
        AgingError: no `model.onnx` (exported without `--onnx`), a model that reads the
            face's own age and gender (`with_source`: the ONNX core takes neither).
        MissingExtraError: no onnxruntime (the `onnx` extra).
    """
    from ragan_tf.export.onnx_export import ONNX_FILE  # lazy: ragan_tf.export loads keras

    if "with_source" in card.get("signatures", {}):
        raise AgingError(f"{model}: --runtime onnx runs {ONNX_FILE}, the float core `generate`, which takes no "
                         "source age or gender, and this model reads them (with_source); use --runtime saved_model.")
    path = Path(model) / ONNX_FILE
    if not path.is_file():
        raise AgingError(f"{model}: no {ONNX_FILE} in the export; export the run again with `ragan-tf export RUN_DIR "
                         "--out DIR --onnx`, or use --runtime saved_model.")
    (onnxruntime,) = require_extra("onnx", "--runtime onnx", "onnxruntime")
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def onnx_age_crops(session, image_size, crop, mask, ages):
    """`with_face_mask` on one crop with the ONNX float core `session`: uint8 [S', S', 3] and its mask
    [S', S'] -> uint8 [A, S', S', 3], resized to and from the model's `image_size` and rounded exactly
    as the SavedModel does (`ragan_tf.export.serving.AgingFunctions._age_uint8`)."""
    import tensorflow as tf

    count, (height, width) = len(ages), np.shape(crop)[:2]
    size = (image_size, image_size)
    image = tf.image.resize(tf.cast(crop[None], tf.float32) / 127.5 - 1.0, size, antialias=True).numpy()
    face_mask = tf.image.resize(np.asarray(mask, np.float32)[None, ..., None], size, antialias=True).numpy()
    aged = session.run(None, {"image": np.repeat(image, count, 0), "face_mask": np.repeat(face_mask, count, 0),
                              "target_age": np.asarray(ages, np.int32).astype(np.float32)})[0]
    resized = tf.image.resize(aged, (height, width), antialias=True)
    return tf.cast(tf.round(tf.clip_by_value((resized + 1.0) * 127.5, 0.0, 255.0)), tf.uint8).numpy()


def chip_face(rgb, landmarks, crop_size) -> AlignedFace:
    """The whole photo as the chip of a model trained on a dataset's own chips (alignment "none").

    Cut as `ragan-tf prepare` cuts such datasets (`FacePreparer` with
    alignment "none"): the photo's centred square, resized with area averaging
    (`resize_square`); the face mask is the landmark mask of `landmarks`.

    Args:
        rgb: uint8 [H, W, 3] photo.
        landmarks: the face's [68, 2] (or [5, 2]) points in photo coordinates.
        crop_size: side S of the chip.

    Returns:
        An `AlignedFace` whose transform maps the photo's centred square onto the chip.
    """
    from ragan_tf.data.face_preparation import resize_square  # lazy: ragan_tf.data loads tensorflow

    height, width = np.shape(rgb)[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    scale = crop_size / side  # pixel centres: (p - corner + 0.5) * scale - 0.5, as `resize_square_points`
    transform = np.array([[scale, 0.0, (0.5 - left) * scale - 0.5], [0.0, scale, (0.5 - top) * scale - 0.5]])
    landmarks = np.asarray(landmarks, np.float64)
    crop_landmarks = transform_points(transform, landmarks)
    return AlignedFace(
        crop=np.ascontiguousarray(resize_square(np.asarray(rgb, np.uint8), crop_size, cv2.INTER_AREA)),
        mask=landmark_face_mask(crop_landmarks, crop_size),
        transform=transform,
        landmarks=landmarks,
        crop_landmarks=crop_landmarks,
    )


class Ager:
    """Ages the faces in photos with an exported ragan-tf SavedModel.

    Args:
        model: folder written by `ragan-tf export` (SavedModel + signature.json), a
            `.zip` / `.tar.gz` / `.tgz` / `.tar` archive of one, or its `http(s)://` or
            `file://` URL (downloaded and unpacked into a cache once:
            `ragan_tf.export.model_source.resolve_model`).
        detector: `"auto"` (dlib HOG, then the CNN detector when HOG finds
            nothing), `"hog"` or `"cnn"`.
        max_pixels: photos larger than this are refused (decompression bombs).
        crop_size: side of the aligned face crop; defaults to the model's resolution.
        source_age, gender: for models that read the face's own age (years) and
            gender (0 male, 1 female) (`with_source`: the conditional VAE); None:
            estimated per face by the photo age and gender model (-1 where it
            finds no face: unknown). Other models ignore them.
        sha256: the archive's (or download's) expected SHA-256; a mismatch is refused.
        cache_dir: where archives are unpacked and downloads kept (default:
            `$RAGAN_TF_CACHE`, else `~/.cache/ragan_tf/models`).
        runtime: `"saved_model"` (the SavedModel's `age_sweep`: each face encoded once for all
            its target ages; `with_face_mask` in older exports) or `"onnx"`: the
            export's `model.onnx` (`ragan-tf export --onnx`) in onnxruntime (`onnx_core`),
            with the same pre- and post-processing (`onnx_age_crops`).
        precision: `"float32"`, or `"bfloat16"` on a CPU with bfloat16 arithmetic in hardware
            (`ragan_tf.precision`: TensorFlow's oneDNN bfloat16 rewrite, set for the
            whole process; about 3x faster at paper size, outputs a few uint8 levels apart).

    Faces are cropped with the card's alignment (`align_faces`); for a model
    trained on a dataset's own chips (alignment "none") the photo's centred
    square is the one crop (`chip_face`).

    Raises:
        AgingError: `model` is not an export of an age transformer, or its card
            records no (or an unknown) face alignment; an unknown `runtime`, or
            `"onnx"` for an export without `model.onnx` or one that reads source ages.
        PrecisionError: an unknown `precision`, or bfloat16 where the CPU lacks it (or with onnx).
        ModelSourceError: `model` is missing, a file that is not an archive, an archive
            without an export inside, an unreachable URL, or fails its `sha256`.
        MissingExtraError: dlib or its models are not installed (the `faces` extra), checked
            first; onnxruntime for `"onnx"` (the `onnx` extra).

    Example:
    ```python
    ager = Ager("exports/quickstart")
    result = ager.age_photo("me.jpg", [10, 40, 70])
    result.photos[2]  # the whole photo, everyone in it aged to 70
    ```
    """

    def __init__(self, model, detector="auto", max_pixels=DEFAULT_MAX_PIXELS, crop_size=None, source_age=None,
                 gender=None, sha256=None, cache_dir=None, runtime="saved_model", precision="float32"):
        import tensorflow as tf

        from ragan_tf.export.model_source import resolve_model  # lazy: ragan_tf.export loads keras

        if runtime not in RUNTIMES:
            raise AgingError(f"runtime must be one of {', '.join(RUNTIMES)}; got {runtime!r}.")
        check_precision(precision)
        if precision != "float32" and runtime == "onnx":
            raise PrecisionError(f"--precision {precision} applies to the SavedModel; --runtime onnx runs "
                                 "model.onnx in float32. Use one or the other.")
        self.detector = FaceDetector(detector)  # first: without the `faces` extra, nothing is downloaded or loaded
        self.runtime = runtime
        model = self.model_dir = resolve_model(model, sha256=sha256, cache_dir=cache_dir)
        self.card = read_export_card(model)
        self.image_size = int(self.card["image_size"])
        self.crop_size = int(crop_size or self.image_size)
        self.max_pixels = max_pixels
        self.spec = card_alignment(self.card, model)  # None: the chips as they are
        self._onnx = onnx_core(model, self.card) if runtime == "onnx" else None
        self.precision = precision
        if self._onnx is None:
            set_precision(precision)
        self._saved_model = self._with_face_mask = self._with_source = self._age_sweep = None
        if self._onnx is None:
            self._saved_model = tf.saved_model.load(str(model))
            self._with_face_mask = self._saved_model.signatures["with_face_mask"]
            # One call per face for all its ages (exports before 2026-12-02 lack it: one row per age).
            self._age_sweep = self._saved_model.signatures.get("age_sweep")
            # Models that read the face's own age and gender (the conditional VAE): the user's, else estimated.
            self._with_source = self._saved_model.signatures.get("with_source")
        if source_age is not None and not 0 <= source_age <= 120:
            raise AgingError(f"--source-age must be a whole number of years within 0-120; got {source_age}.")
        if gender not in (None, 0, 1):
            raise AgingError(f"gender must be 0 (male) or 1 (female); got {gender!r}.")
        self.source_age, self.gender = source_age, gender
        self._source_estimator = None

    def align_faces(self, rgb, landmarks=None):
        """The crops of `rgb`'s faces the model is fed, cut as its training data was.

        Args:
            rgb: uint8 [H, W, 3] photo.
            landmarks: the faces' landmarks (default: detected), left to right.

        Returns:
            One `AlignedFace` per face with the card's recipe; with alignment
            "none", one for the whole photo (`chip_face`, masked by its largest
            face); empty when there is no face.
        """
        landmarks = self.detector.detect(rgb) if landmarks is None else list(landmarks)
        if self.spec is not None:
            return [align_face(rgb, points, self.spec, self.crop_size) for points in landmarks]
        if not landmarks:
            return []
        largest = max(landmarks, key=lambda points: float(np.ptp(points[:, 0]) * np.ptp(points[:, 1])))
        return [chip_face(rgb, largest, self.crop_size)]

    def face_source(self, crop):
        """`(source age, gender)` of an aligned face for a model that takes them: the ones given to
        the `Ager`, else the photo age and gender model's reading of the crop (-1: unknown)."""
        age, gender = self.source_age, self.gender
        if age is None or gender is None:
            if self._source_estimator is None:
                from ragan_tf.evaluation.age_estimators import PhotoAgeEstimator
                from ragan_tf.evaluation.real_faces import PHOTO_SIDE, PhotoSized

                self._source_estimator = PhotoSized(PhotoAgeEstimator(self.detector.detector), PHOTO_SIDE)
            estimated_age, estimated_gender = self._source_estimator.predict_age_and_gender(crop)
            age = (-1 if np.isnan(estimated_age) else int(round(estimated_age))) if age is None else age
            gender = estimated_gender if gender is None else gender
        return int(age), int(gender)

    def age_crops(self, crop, mask, ages, source=None):
        """One aligned crop (uint8 [S, S, 3]) and its mask ([S, S]) -> uint8 [A, S, S, 3]; `source`
        is the face's `(age, gender)` for a model that takes them."""
        import tensorflow as tf

        if self._onnx is not None:
            return onnx_age_crops(self._onnx, self.image_size, crop, mask, ages)
        count = len(ages)
        if self._with_source is None and self._age_sweep is not None:
            return self._age_sweep(image=tf.constant(crop), face_mask=tf.constant(np.asarray(mask, np.float32)[..., None]),
                                   target_age=tf.constant(np.asarray(ages, np.int32)))["aged_images"].numpy()
        inputs = dict(
            image=tf.constant(np.repeat(crop[None], count, 0)),
            face_mask=tf.constant(np.repeat(np.asarray(mask, np.float32)[None, ..., None], count, 0)),
            target_age=tf.constant(np.asarray(ages, np.int32)),
        )
        if self._with_source is None:
            return self._with_face_mask(**inputs)["aged_image"].numpy()
        age, gender = source if source is not None else self.face_source(crop)
        return self._with_source(**inputs, source_age=tf.fill([count], age),
                                 gender=tf.fill([count], gender))["aged_image"].numpy()

    def age_image(self, rgb, ages, source="image"):
        """Ages every face in an RGB uint8 image.

        Raises:
            PhotoTooSmallError: the image is smaller than the smallest face the
                detectors find (refused before any detector runs).
            NoFaceError: the detector found no face.
        """
        ages = check_ages(ages)
        height, width = np.shape(rgb)[:2]
        side = self.detector.min_face_side
        if min(height, width) < side:
            raise PhotoTooSmallError(
                f"{source}: {width}x{height} px is too small to hold a face (dlib's detectors find faces "
                f"from {side:g} px); use a photo at least {side:g}x{side:g} px."
            )
        start = time.perf_counter()
        landmarks = self.detector.detect(rgb)
        detected = time.perf_counter()
        faces = self.align_faces(rgb, landmarks)
        aligned = time.perf_counter()
        if not faces:
            raise NoFaceError(
                f"{source}: no face found (tried detector {self.detector.detector!r}). "
                "Use a photo with a frontal face at least ~80 px wide, or try --detector cnn."
            )
        sources = [self.face_source(face.crop) for face in faces] if self._with_source is not None else None
        aged_crops = np.stack([self.age_crops(face.crop, face.mask, ages, None if sources is None else sources[k])
                               for k, face in enumerate(faces)])
        generated = time.perf_counter()
        photos = np.stack(
            [paste_back_all(rgb, [(aged[index], face) for aged, face in zip(aged_crops, faces)])
             for index in range(len(ages))]
        )
        timings = {
            "detect_s": detected - start,
            "align_s": aligned - detected,
            "generator_s": generated - aligned,
            "paste_back_s": time.perf_counter() - generated,
        }
        return AgingResult(source, ages, rgb, photos, faces, aged_crops, timings, sources=sources)

    def age_photo(self, path, ages):
        """Loads a photo file (see `load_photo`) and ages every face in it."""
        start = time.perf_counter()
        photo = load_photo(path, self.max_pixels)
        loaded = time.perf_counter() - start
        result = self.age_image(photo.rgb, ages, source=str(path))
        result.photo = photo
        result.timings = {"load_s": loaded, **result.timings}
        return result

    def sweep(self, result, num_frames):
        """Whole-photo frames at `num_frames` ages evenly spaced over `result.ages`' span
        (continuous ages: the conditioning interpolates between age groups)."""
        ages = np.linspace(min(result.ages), max(result.ages), num_frames)
        per_face = [self.age_crops(face.crop, face.mask, np.round(ages)) for face in result.faces]
        frames = [paste_back_all(result.original, [(aged[index], face) for aged, face in zip(per_face, result.faces)])
                  for index in range(len(ages))]
        return ages, frames
