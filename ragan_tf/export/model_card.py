"""The model card written beside every export: `signature.json` (for programs) and `MODEL_CARD.md`.

It records what a client needs to call the model correctly (signatures,
resolution, age groups and their anchor ages, face alignment and face-mask
conventions), where the model came from (the training config and its final
losses, and the data's provenance: `ragan_tf.data.provenance`, which says
how its faces were cropped), and what it must not be used for. A run whose
crop is unknown is not exported (`run_provenance`): a guessed one would
feed `ragan-tf age` faces at another scale than training saw.
"""

import csv
import dataclasses
import datetime
import json
from pathlib import Path

from ragan_tf.data.age_groups import get_scheme
from ragan_tf.data.provenance import ProvenanceError, read_provenance

CONTINUOUS_AGE = (
    "A target age between two groups' anchor ages mixes the two groups' conditions linearly "
    "(RAGAN: the conditional-batch-norm scale and offset; conditional generators: the one-hot "
    "condition; one-hot at an anchor, 0.5/0.5 halfway); ages beyond the first or last anchor are clamped. "
    "Every signature refuses target ages outside the range its inputs state, non-finite ones, and batches "
    "whose sizes disagree, with an InvalidArgumentError naming the input."
)

LIMITATIONS = {
    "synthetic": [
        "Trained on procedurally drawn cartoon faces (ragan_tf.data.synthetic_faces); it does not "
        "transform photographs of people meaningfully. It exists to demonstrate and test the pipeline.",
        "Ages are exact render parameters; there is no labelling noise and no demographic skew "
        "beyond the renderer's uniform sampling of its traits.",
    ],
    "ffhq_aging": [
        "FFHQ-Aging age and gender labels come from crowd-sourcing and classifiers; the young and "
        "the old groups are small (0-2: 2,492 images, 70-120: 1,812, against 19,511 for 20-29), "
        "so children and the elderly are aged least reliably.",
        "FFHQ skews towards light skin tones and Western faces; expect worse identity preservation "
        "and stereotyped aging on under-represented groups.",
        "Aging is a plausible rendering, not a prediction of how a real person will look; do not use "
        "it for identification, age verification or missing-person work.",
        "The images are CC BY-NC-SA 4.0: models trained on them inherit the non-commercial terms.",
    ],
}
GENERAL_LIMITATIONS = [
    "Faces must be aligned with the recorded alignment recipe; unaligned crops give poor results "
    "(`ragan-tf age` aligns and pastes back automatically).",
    "Without a face mask the whole image counts as face, so the background may change too.",
]
#: Replaces the first general limitation for a model trained on a dataset's own chips (alignment "none").
CHIP_LIMITATION = (
    "Trained on the dataset's own face chips, used as they were (alignment `none`): no recipe reproduces "
    "their crop, so `ragan-tf age` feeds the model the photo's centred square, resized, as the chip; give it "
    "face chips framed like the training images, or prepare the data again with `--alignment ffhq_aging`."
)


def run_provenance(run_dir, config):
    """The data provenance of the run folder `run_dir` (`ragan_tf.data.provenance.read_provenance`).

    Raises:
        ExportError: it is unknown (a run of a prepared folder made before runs
            recorded it, whose `data.data_dir` no longer holds that folder), or damaged.
    """
    from ragan_tf.export.saved_model import ExportError  # saved_model imports this module

    try:
        provenance = read_provenance(run_dir, config)
    except ProvenanceError as error:
        raise ExportError(str(error)) from None
    if provenance is None:
        raise ExportError(
            f"{run_dir}: unknown face alignment: the run has no data_provenance.json and data.data_dir "
            f"({config.data.data_dir}) in its config.yaml is not the {config.data.dataset} folder "
            "`ragan-tf prepare` wrote; train the run again, or set data.data_dir in its config.yaml to the "
            "prepared folder it was trained on."
        )
    return provenance


def training_summary(run_dir):
    """Epochs completed and the last row of the run's `history.csv` (empty when missing)."""
    history = Path(run_dir) / "history.csv"
    if not history.is_file():
        return {"epochs_completed": None, "final_epoch_metrics": {}}
    with history.open() as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return {"epochs_completed": 0, "final_epoch_metrics": {}}
    last = rows[-1]
    return {
        "epochs_completed": int(last.pop("epoch")) + 1,
        "final_epoch_metrics": {key: round(float(value), 6) for key, value in last.items() if value},
    }


def signature_docs(model):
    """What each signature of `model`'s export takes and returns (`ragan_tf.export.serving`)."""
    from ragan_tf.export.serving import aging_signatures, sampling_signatures
    from ragan_tf.models.tasks import tasks_of

    tasks = tasks_of(model)
    docs = aging_signatures(tasks["age_transformer"]) if tasks["age_transformer"] is not None else {}
    if tasks["sampler"] is not None:
        docs.update(sampling_signatures(tasks["sampler"].conditional, "sample" if docs else "serving_default"))
    return docs


def model_card(config, run_dir, model, checks=None, provenance=None, formats=None):
    """The `signature.json` dictionary for the export of `model` (the run's inference network).

    `provenance` is the run's data provenance (default: `run_provenance`); its
    `alignment` is the crop the model expects. `formats` describes the files
    converted from the float core beside the SavedModel (`model.tflite`,
    `model_float16.tflite`, `model.onnx`): `{file name: {"format", "signature",
    "weights", "bytes", "checked_with", "max_abs_difference", ...}}`; `checks`
    holds each largest difference under its own key as well.
    """
    from ragan_tf.models.registry import get_family
    from ragan_tf.models.tasks import task_names

    scheme = get_scheme(config.data.age_groups)
    dataset = config.data.dataset
    family = get_family(config.model.type)
    provenance = provenance or run_provenance(run_dir, config)
    general = list(GENERAL_LIMITATIONS)
    if provenance["alignment"] == "none":
        general[0] = CHIP_LIMITATION
    return {
        "format": "ragan-tf SavedModel",
        "exported": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model": {"type": family.name, "paper": family.paper, "tasks": task_names(model),
                  "experiment": config.name, "run_dir": str(run_dir)},
        "image_size": config.data.image_size,
        "dataset": dataset,
        "alignment": provenance["alignment"],
        "data_provenance": dict(provenance),
        "face_mask": {
            "non_face_parsing_labels": list(config.data.non_face_labels),
            "description": "1 on the face region (skin, features, hair, neck), 0 on background, hat, "
                           "earrings, necklace and clothing; `ragan-tf age` builds it from landmarks",
        },
        "age_groups": [
            {"index": index, "label": label, "range": list(bounds), "anchor_age": float(anchor)}
            for index, (label, bounds, anchor) in enumerate(zip(scheme.labels, scheme.ranges, scheme.anchor_ages))
        ],
        "continuous_age": CONTINUOUS_AGE,
        "signatures": signature_docs(model),
        "training": {"config": dataclasses.asdict(config), **training_summary(run_dir)},
        "checks": dict(checks or {}),
        "formats": dict(formats or {}),
        "limitations": LIMITATIONS.get(dataset, []) + general,
    }


def write_model_card(export_dir, config, run_dir, model, checks=None, provenance=None, formats=None):
    """Writes `signature.json` and `MODEL_CARD.md` into `export_dir`; returns the card dict."""
    card = model_card(config, run_dir, model, checks, provenance, formats)
    export_dir = Path(export_dir)
    (export_dir / "signature.json").write_text(json.dumps(card, indent=2) + "\n")
    (export_dir / "MODEL_CARD.md").write_text(markdown_card(card))
    return card


def read_model_card(model_dir):
    """The `signature.json` beside an export; a clear error when `model_dir` is not one."""
    from ragan_tf.export.saved_model import ExportInputNotFound  # saved_model imports this module

    card_path = Path(model_dir) / "signature.json"
    if not card_path.is_file():
        raise ExportInputNotFound(
            f"{model_dir}: not a ragan-tf export (no signature.json); create one with "
            "`ragan-tf export RUN_DIR --out DIR`."
        )
    return json.loads(card_path.read_text())


def provenance_line(card):
    """One line on where the card's training images came from (older cards have no record)."""
    provenance = card.get("data_provenance")
    if not provenance:
        return "not recorded"
    prepared = provenance.get("prepare_alignment")
    return (f"{provenance['source']}: {provenance['dataset']} at {provenance['image_size']} px"
            + (f", prepared with alignment `{prepared}`" if prepared else "")
            + f", face masks from `{provenance['mask']}`")


def markdown_card(card):
    """A human-readable rendering of the card."""
    groups = "\n".join(
        f"| {group['index']} | {group['label']} | {group['anchor_age']:g} |" for group in card["age_groups"]
    )
    signatures = "\n".join(
        f"- `{name}`: " + ", ".join(f"`{key}` {value}" for key, value in spec["inputs"].items())
        + " -> " + ", ".join(f"`{key}` {value}" for key, value in spec["outputs"].items())
        for name, spec in card["signatures"].items()
    )
    metrics = card["training"]["final_epoch_metrics"]
    metric_lines = "\n".join(f"| {key} | {value:.4f} |" for key, value in metrics.items()) or "| (none) | |"
    limitations = "\n".join(f"- {line}" for line in card["limitations"])
    checks = "\n".join(f"- {key}: {value:.3g}" for key, value in card["checks"].items()) or "- none run"
    formats = "\n".join(
        f"| `{name}` | {entry['format']} `{entry['signature']}`, {entry['weights']} weights"
        + (f", opset {entry['opset']}" if "opset" in entry else "")
        + f" | {entry['bytes']:,} | {entry['checked_with']} | {entry['max_abs_difference']:.3g} |"
        for name, entry in card.get("formats", {}).items()
    )
    formats = formats and ("\n\n| file | model | bytes | checked with | largest difference from the SavedModel |\n"
                           "| --- | --- | --- | --- | --- |\n" + formats)
    return f"""# Model card: {card['model']['experiment']} ({card['model']['type']})

Exported {card['exported']} from `{card['model']['run_dir']}` by ragan-tf.

- Model family: `{card['model']['type']}` ({card['model']['paper']}); tasks: {', '.join(card['model']['tasks'])}.
- Training data: `{card['dataset']}`; resolution {card['image_size']} x {card['image_size']} px.
- Face alignment expected: `{card['alignment']}` (see `ragan_tf.faces.alignment`; `none`: the dataset's own chips).
- Data provenance: {provenance_line(card)}.
- Epochs completed: {card['training']['epochs_completed']}.

## Signatures

{signatures}

Continuous age: {card['continuous_age']}

## Age groups

| index | group | anchor age |
| --- | --- | --- |
{groups}

## Final epoch losses (training and validation)

| metric | value |
| --- | --- |
{metric_lines}

## Export checks

{checks}{formats}

## Limitations and bias

{limitations}
"""
