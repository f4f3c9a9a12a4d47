"""`ragan-tf export`: a run folder -> a SavedModel of its EMA generator, with a model card.

The SavedModel serves four signatures (see `ragan_tf.export.serving`):

- `serving_default`: `image` uint8 [B, H, W, 3] (any size; resized inside),
  `target_age` int32 [B] years -> `aged_image` uint8 [B, H, W, 3]; the whole
  image counts as face;
- `with_face_mask`: the same plus `face_mask` float32 [B, H, W, 1] (1 = face);
- `age_progression`: `image` uint8 [H, W, 3] -> `aged_images` uint8
  [G, H, W, 3] at every age group, with `age_groups` and `anchor_ages`;
- `generate`: the float core at the model's resolution, continuous ages.

Ages between two groups' anchor ages mix the groups' conditional-batch-norm
parameters (`ragan_tf.data.age_groups.age_group_weights`).
"""

import shutil
import tempfile
from pathlib import Path

import keras

from ragan_tf.config import ConfigError, load_config
from ragan_tf.data.age_groups import get_scheme
from ragan_tf.export.model_card import write_model_card
from ragan_tf.export.serving import AgingFunctions
from ragan_tf.models.ragan import generator as _generator  # noqa: F401  (registers Generator for loading)

GENERATOR_FILE = "generator_ema.keras"


def load_run(run_dir):
    """`(config, generator)` of a finished training run folder; a clear error otherwise."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such run folder (the `runtime.run_dir` of a `ragan-tf train` run).")
    config_path, generator_path = run_dir / "config.yaml", run_dir / GENERATOR_FILE
    if not config_path.is_file():
        raise FileNotFoundError(f"{run_dir}: no config.yaml; this is not a `ragan-tf train` run folder.")
    if not generator_path.is_file():
        raise FileNotFoundError(
            f"{run_dir}: no {GENERATOR_FILE}; training writes it when the last epoch ends "
            "(an interrupted run resumes from backup/ with the same `ragan-tf train` command)."
        )
    config = load_config(config_path)
    generator = keras.saving.load_model(generator_path, compile=False)
    return config, generator


def build_export_archive(generator, scheme):
    """A `keras.export.ExportArchive` tracking `generator`, one endpoint per signature."""
    functions = AgingFunctions(generator, scheme)
    archive = keras.export.ExportArchive()
    archive.track(generator)
    for name, (function, input_signature) in functions.signatures().items():
        archive.add_endpoint(name, function, input_signature=input_signature)
    return archive


def export_saved_model(run_dir, out_dir, overwrite=False, tflite=False, verbose=True):
    """Exports a run's EMA generator as a SavedModel with a model card beside it.

    The export is written to a temporary folder next to `out_dir` and moved
    into place only when complete, so a failure leaves nothing behind.

    Args:
        run_dir: a finished `ragan-tf train` run folder.
        out_dir: the SavedModel folder to create.
        overwrite: replace an existing `out_dir`.
        tflite: also write `model.tflite` (the `generate` signature at batch 1)
            and check it against the SavedModel.
        verbose: print what was written.

    Returns:
        The `Path` of the SavedModel.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise ConfigError(f"{out_dir} exists; pass --overwrite to replace it.")
    config, generator = load_run(run_dir)
    scheme = get_scheme(config.data.age_groups)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        build_export_archive(generator, scheme).write_out(str(staging), verbose=False)
        checks = {}
        if tflite:
            from ragan_tf.export.tflite import check_tflite, export_tflite

            export_tflite(staging, staging / "model.tflite")
            checks["tflite_max_abs_difference"] = check_tflite(staging, staging / "model.tflite")
        write_model_card(staging, config, Path(run_dir), checks)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if verbose:
        print(f"Wrote SavedModel {out_dir} (signatures: serving_default, with_face_mask, age_progression, generate)")
        for name in sorted(path.name for path in out_dir.iterdir() if path.is_file()):
            print(f"  {out_dir / name}")
    return out_dir
