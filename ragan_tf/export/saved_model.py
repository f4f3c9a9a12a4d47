"""`ragan-tf export`: a run folder -> a SavedModel of its inference network, with a model card.

The signatures follow the network's task contracts (`ragan_tf.models.tasks`;
`ragan_tf.export.serving`). An age transformer serves four:

- `serving_default`: `image` uint8 [B, H, W, 3] (any size; resized inside),
  `target_age` int32 [B] years -> `aged_image` uint8 [B, H, W, 3]; the whole
  image counts as face;
- `with_face_mask`: the same plus `face_mask` float32 [B, H, W, 1] (1 = face);
- `age_progression`: `image` uint8 [H, W, 3] -> `aged_images` uint8
  [G, H, W, 3] at every age group, with `age_groups` and `anchor_ages`;
- `generate`: the float core at the model's resolution, continuous ages.

Ages between two groups' anchor ages mix the groups' conditions
(`ragan_tf.data.age_groups.age_group_weights`). A sampler serves
`serving_default` (`seed`, `num_images`, and a `target_age` when it is
conditional -> uint8 `images`) and `generate_from_noise`; a family that does
both (the encoder + conditional DCGAN) serves the aging signatures and
`sample` + `generate_from_noise`.
"""

import shutil
import tempfile
from pathlib import Path

import keras

from ragan_tf.config import ConfigError, load_config
from ragan_tf.data.age_groups import get_scheme
from ragan_tf.export.model_card import write_model_card
from ragan_tf.export.serving import AgingFunctions, SamplingFunctions
from ragan_tf.models.registry import get_family
from ragan_tf.models.tasks import tasks_of

INFERENCE_MODEL_FILE = "inference_model.keras"
#: What ragan-tf 0.1 runs saved (RAGAN's EMA generator).
LEGACY_GENERATOR_FILE = "generator_ema.keras"


def load_run(run_dir):
    """`(config, inference network)` of a finished training run folder; a clear error otherwise."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such run folder (the `runtime.run_dir` of a `ragan-tf train` run).")
    config_path = run_dir / "config.yaml"
    if not config_path.is_file():
        raise FileNotFoundError(f"{run_dir}: no config.yaml; this is not a `ragan-tf train` run folder.")
    model_path = run_dir / INFERENCE_MODEL_FILE
    if not model_path.is_file() and (run_dir / LEGACY_GENERATOR_FILE).is_file():
        model_path = run_dir / LEGACY_GENERATOR_FILE
    if not model_path.is_file():
        raise FileNotFoundError(
            f"{run_dir}: no {INFERENCE_MODEL_FILE}; training writes it when the last epoch ends "
            "(an interrupted run resumes from backup/ with the same `ragan-tf train` command)."
        )
    config = load_config(config_path)
    get_family(config.model.type)  # imports the family, which registers its classes for loading
    return config, keras.saving.load_model(model_path, compile=False)


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


def export_saved_model(run_dir, out_dir, overwrite=False, tflite=False, verbose=True):
    """Exports a run's EMA generator as a SavedModel with a model card beside it.

    The export is written to a temporary folder next to `out_dir` and moved
    into place only when complete, so a failure leaves nothing behind.

    Args:
        run_dir: a finished `ragan-tf train` run folder.
        out_dir: the SavedModel folder to create.
        overwrite: replace an existing `out_dir`.
        tflite: also write `model.tflite` (the float core: `generate` for an age
            transformer, `generate_from_noise` for a sampler) and check it
            against the SavedModel.
        verbose: print what was written.

    Returns:
        The `Path` of the SavedModel.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise ConfigError(f"{out_dir} exists; pass --overwrite to replace it.")
    config, model = load_run(run_dir)
    scheme = get_scheme(config.data.age_groups)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        build_export_archive(model, scheme).write_out(str(staging), verbose=False)
        checks = {}
        if tflite:
            from ragan_tf.export.tflite import check_tflite, export_tflite

            export_tflite(staging, staging / "model.tflite")
            checks["tflite_max_abs_difference"] = check_tflite(staging, staging / "model.tflite")
        card = write_model_card(staging, config, Path(run_dir), model, checks)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if verbose:
        print(f"Wrote SavedModel {out_dir} ({card['model']['type']}; signatures: {', '.join(card['signatures'])})")
        for name in sorted(path.name for path in out_dir.iterdir() if path.is_file()):
            print(f"  {out_dir / name}")
    return out_dir
