"""`ragan-tf export`: a run folder -> a SavedModel of its inference network, with a model card.

The signatures follow the network's task contracts (`ragan_tf.models.tasks`;
`ragan_tf.export.serving`). An age transformer serves five:

- `serving_default`: `image` uint8 [B, H, W, 3] (any size; resized inside),
  `target_age` int32 [B] years -> `aged_image` uint8 [B, H, W, 3]; the whole
  image counts as face;
- `with_face_mask`: the same plus `face_mask` float32 [B, H, W, 1] (1 = face);
- `age_sweep`: one face `image` uint8 [H, W, 3], its `face_mask` float32
  [H, W, 1] and `target_age` int32 [A] -> `aged_images` uint8 [A, H, W, 3]
  (RAGAN encodes the face once for all A ages);
- `age_progression`: `image` uint8 [H, W, 3] -> `aged_images` uint8
  [G, H, W, 3] at every age group, with `age_groups` and `anchor_ages`;
- `generate`: the float core at the model's resolution, continuous ages.

Ages between two groups' anchor ages mix the groups' conditions
(`ragan_tf.data.age_groups.age_group_weights`). A sampler serves
`serving_default` (`seed`, `num_images`, and a `target_age` when it is
conditional -> uint8 `images`) and `generate_from_noise`; a family that does
both (the encoder + conditional DCGAN) serves the aging signatures and
`sample` + `generate_from_noise`. Every signature checks its inputs
(`ragan_tf.export.serving`).

The card records the face alignment the model was trained with, from the
run's data provenance (`ragan_tf.data.provenance`); a run whose alignment is
unknown is refused rather than guessed.

An export never touches the run: `--out` may not be, lie inside or contain
the run folder; a damaged model file or non-finite weights are refused; the
SavedModel is written to a hidden sibling of `--out` and renamed into place
when complete (`--overwrite` replaces only a previous export, and only then).
With `--archive` it is also packed as `<out>.tar.gz` (the export as its single
top-level folder) with `<out>.tar.gz.sha256` beside it
(`ragan_tf.export.model_source.write_model_archive`), the archive
`ragan-tf age --model` and `Ager` read from a file or a URL.

The float core signature also goes, on request, to `model.tflite` and
`model_float16.tflite` (`--tflite`: `ragan_tf.export.tflite`) and to
`model.onnx` (`--onnx`: `ragan_tf.export.onnx_export`, the `onnx` extra,
refused before anything is written when it is missing); each is checked
against the SavedModel on the same inputs, and the card records its size,
what checked it and the largest difference (`formats`, and `checks`).
"""

import contextlib
import shutil
import tempfile
import zipfile
from pathlib import Path

import keras

from ragan_tf.config import ConfigError, load_config
from ragan_tf.data.age_groups import get_scheme
from ragan_tf.errors import RaganError
from ragan_tf.export.model_card import run_provenance, write_model_card
from ragan_tf.export.model_source import archive_paths, write_model_archive
from ragan_tf.export.serving import AgingFunctions, SamplingFunctions
from ragan_tf.models.registry import get_family
from ragan_tf.models.tasks import tasks_of
from ragan_tf.training.callbacks import non_finite_weights

INFERENCE_MODEL_FILE = "inference_model.keras"
#: What ragan-tf 0.1 runs saved (RAGAN's EMA generator).
LEGACY_GENERATOR_FILE = "generator_ema.keras"


class ExportError(RaganError):
    """A run that cannot be exported as asked, or a folder that is not a usable export."""


class ExportInputNotFound(ExportError, FileNotFoundError):
    """A run folder, a file a run must hold, or an export folder that does not exist."""


def run_model_path(run_dir):
    """The inference network file of a finished training run folder; a clear error otherwise."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        problem = "is a file, not a run folder" if run_dir.exists() else "no such run folder"
        raise ExportInputNotFound(f"{run_dir}: {problem} (the `runtime.run_dir` of a `ragan-tf train` run).")
    if not (run_dir / "config.yaml").is_file():
        raise ExportInputNotFound(f"{run_dir}: no config.yaml; this is not a `ragan-tf train` run folder.")
    model_path = run_dir / INFERENCE_MODEL_FILE
    if not model_path.is_file() and (run_dir / LEGACY_GENERATOR_FILE).is_file():
        model_path = run_dir / LEGACY_GENERATOR_FILE
    if not model_path.is_file():
        raise ExportInputNotFound(
            f"{run_dir}: no {INFERENCE_MODEL_FILE}; training writes it when the last epoch ends "
            "(an interrupted run resumes from backup/ with the same `ragan-tf train` command)."
        )
    return model_path


def check_model_file(model_path):
    """Raises `ExportError` when a `.keras` file is damaged: not a zip archive (truncated,
    overwritten; Keras reports that as "File not found") or a member whose checksum fails."""
    try:
        with zipfile.ZipFile(model_path) as archive:
            bad_member = archive.testzip()
    except (zipfile.BadZipFile, EOFError) as error:
        problem = f"not a .keras zip archive: {error}"
    else:
        problem = bad_member and f"{bad_member} fails its checksum"
    if problem:
        raise ExportError(f"{model_path}: the model file is damaged ({problem}); restore it from a copy or "
                          "train the run again.")


def load_run(run_dir):
    """`(config, inference network)` of a finished training run folder; a clear error otherwise."""
    model_path = run_model_path(run_dir)
    config = load_config(Path(run_dir) / "config.yaml")
    get_family(config.model.type)  # imports the family, which registers its classes for loading
    check_model_file(model_path)
    return config, keras.saving.load_model(model_path, compile=False)


def check_finite(model, model_path):
    """Raises `ExportError` when any weight (trainable or not) of `model`, loaded from the run
    file `model_path`, holds NaN or infinity: its export would give NaN images."""
    bad = non_finite_weights(model)
    if bad:
        run_dir, backup = model_path.parent, model_path.parent / "backup"
        where = (f"the run's last good training state is in {backup} (`ragan-tf train` resumes from it)"
                 if backup.is_dir() else f"the run has no {backup} to go back to: train it again")
        raise ExportError(f"{run_dir}: the weights in {model_path.name} contain NaN or infinity "
                          f"({len(bad)} of {len(model.weights)}: {', '.join(bad[:3])}); nothing was exported; {where}.")


def check_out(out_dir, model_path, overwrite):
    """Raises unless `out_dir` may receive the export of the run file `model_path`: outside the
    run folder and the folder the model file resolves to, not around them (`--overwrite` would
    delete the run), not a file, and, when it exists, replaced only with `overwrite` and only if
    it is an export."""
    out = out_dir.resolve()
    for folder, what in ((model_path.parent.resolve(), "the run folder"),
                         (model_path.resolve().parent, "the folder of the run's model")):
        if out == folder or folder in out.parents or out in folder.parents:
            relation = "is" if out == folder else "lies inside" if folder in out.parents else "contains"
            raise ExportError(f"--out {out_dir} {relation} {what} {folder}; an export goes to a folder of its "
                              "own, outside the run and not around it (--overwrite would delete the run).")
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"--out {out_dir} is a file, not a folder; choose another --out.")
    if out_dir.exists() and not overwrite:
        raise ConfigError(f"{out_dir} exists; pass --overwrite to replace it.")
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / "saved_model.pb").is_file():
        raise ExportError(f"--out {out_dir} is not an export (no saved_model.pb); --overwrite only replaces a "
                          "previous `ragan-tf export`. Choose another --out.")


def export_functions(model, scheme):
    """`{signature name: (function, input signature)}` for every contract `model` implements."""
    tasks = tasks_of(model)
    signatures = {}
    if tasks["age_transformer"] is not None:
        signatures.update(AgingFunctions(tasks["age_transformer"], scheme).signatures())
    if tasks["sampler"] is not None:
        name = "sample" if signatures else "serving_default"
        signatures.update(SamplingFunctions(tasks["sampler"], scheme, name).signatures())
    return signatures


def build_export_archive(model, scheme):
    """A `keras.export.ExportArchive` tracking `model`, one endpoint per signature."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, (function, input_signature) in export_functions(model, scheme).items():
        archive.add_endpoint(name, function, input_signature=input_signature)
    return archive


def export_saved_model(run_dir, out_dir, overwrite=False, tflite=False, verbose=True, archive=False, onnx=False):
    """Exports a run's inference network as a SavedModel with a model card beside it.

    Every check comes first (the run folder and its model file, `out_dir`
    against the run, finite weights, a known data provenance: the face
    alignment the card records, `ragan_tf.data.provenance`); the export is
    then written to a temporary folder next to `out_dir` and renamed into
    place only when complete, so a failure or an interruption never leaves a
    half-written `out_dir`, and `overwrite` replaces a previous export only
    once the new one is whole.

    Args:
        run_dir: a finished `ragan-tf train` run folder.
        out_dir: the SavedModel folder to create, outside `run_dir`.
        overwrite: replace an existing `out_dir` (only a previous export).
        tflite: also write `model.tflite` and `model_float16.tflite` (float16
            weights) of the float core (`generate` for an age transformer,
            `generate_from_noise` for a sampler) and check them against the SavedModel.
        verbose: print what was written.
        archive: also write `<out_dir>.tar.gz` (the export as its single top-level
            folder) and `<out_dir>.tar.gz.sha256` (`sha256sum` format) beside `out_dir`.
        onnx: also write `model.onnx` of the float core (tf2onnx, the `onnx` extra)
            and check it against the SavedModel with onnxruntime.

    Returns:
        The `Path` of the SavedModel.

    Raises:
        ExportInputNotFound: no such run folder, or one without its config or model file.
        ExportError: a damaged model file, non-finite weights, an unknown (or damaged)
            data provenance, an `out_dir` that is or holds the run, a file, a folder
            that is not an export, or not writable; with `onnx`, a graph tf2onnx cannot
            convert or onnxruntime cannot run.
        MissingExtraError: `onnx` without the `onnx` extra installed (`ragan_tf.errors.require_extra`).
        ConfigError: `out_dir` (or, with `archive`, its archive) exists and `overwrite` is not set.
    """
    if onnx:
        from ragan_tf.export.onnx_export import require_onnx

        require_onnx()
    out_dir = Path(out_dir)
    model_path = run_model_path(run_dir)
    check_out(out_dir, model_path, overwrite)
    if archive:
        check_archive_out(out_dir, overwrite)
    config, model = load_run(run_dir)
    check_finite(model, model_path)
    provenance = run_provenance(Path(run_dir), config)
    scheme = get_scheme(config.data.age_groups)
    staging = staging_folder(out_dir)
    try:
        build_export_archive(model, scheme).write_out(str(staging), verbose=False)
        formats = {}
        if tflite or onnx:
            from ragan_tf.export.tflite import core_inputs, export_checked_tflite

            reference = core_inputs(staging)  # one set of inputs and SavedModel outputs for every format
        if tflite:
            formats.update(export_checked_tflite(staging, reference))
        if onnx:
            from ragan_tf.export.onnx_export import export_checked_onnx

            formats.update(export_checked_onnx(staging, reference))
        card = write_model_card(staging, config, Path(run_dir), model, format_checks(formats), provenance,
                                formats=formats)
        move_into_place(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if verbose:
        print(f"Wrote SavedModel {out_dir} ({card['model']['type']}; signatures: {', '.join(card['signatures'])})")
        for name in sorted(path.name for path in out_dir.iterdir() if path.is_file()):
            print(f"  {out_dir / name}")
    if archive:
        tar_path, digest_path, digest = write_model_archive(out_dir)
        if verbose:
            print(f"Wrote archive {tar_path} (sha256 {digest})\n  {digest_path}")
    return out_dir


#: The `checks` key of each format's largest difference from the SavedModel (the first one is
#: what cards have recorded since TFLite export began).
CHECK_KEYS = {"model.tflite": "tflite_max_abs_difference",
              "model_float16.tflite": "tflite_float16_max_abs_difference",
              "model.onnx": "onnx_max_abs_difference"}


def format_checks(formats):
    """The card's `checks`: `{CHECK_KEYS[file]: largest difference}` for every format written."""
    return {CHECK_KEYS[name]: entry["max_abs_difference"] for name, entry in formats.items()}


def check_archive_out(out_dir, overwrite):
    """Raises unless the archive of `out_dir` and its digest file may be written: not folders,
    and, when they exist, replaced only with `overwrite`."""
    for path in archive_paths(out_dir):
        if path.is_dir():
            raise ExportError(f"--archive: {path} is a folder; remove it or choose another --out.")
        if path.exists() and not overwrite:
            raise ConfigError(f"{path} exists; pass --overwrite to replace it.")


def staging_folder(out_dir):
    """A new hidden folder beside `out_dir` (same file system, so renaming it is atomic)."""
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    except OSError as error:
        raise ExportError(f"--out {out_dir}: cannot write there ({error.strerror or error}); "
                          "choose a folder you can write to.") from None


def move_into_place(staging, out_dir):
    """Renames the complete export `staging` to `out_dir`. A previous export there is first
    moved aside (into a hidden sibling), put back if the rename fails, and deleted last."""
    if not out_dir.exists():
        staging.rename(out_dir)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.replaced-", dir=out_dir.parent))
    previous = aside / out_dir.name
    replaced = False
    try:
        out_dir.rename(previous)
        try:
            staging.rename(out_dir)
            replaced = True
        except BaseException:
            previous.rename(out_dir)
            raise
    finally:
        if replaced:
            shutil.rmtree(aside, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):  # not empty only if putting the previous export back failed
                aside.rmdir()
