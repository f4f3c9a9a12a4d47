"""`ragan-tf prepare`: a raw dataset folder -> aligned, sharded TFRecords.

The dataset's reader lists the records; each shard of `shard_size` records is
prepared by `FacePreparer` (detect, align FFHQ-style, landmark or parsing
face mask; or only resize for datasets of aligned crops) and written as a
TFRecord file of common examples (`face_records.example_features`). A shard
is written to a temporary name and renamed when complete, next to a small
JSON file with its counts and labels, so an interrupted run continues with
the shards that are not finished yet. At the end the folder gets
tensorflow-datasets metadata (so `tfds.builder_from_directory(out)` reads
it, and so does the training pipeline), one labels CSV per split (for
balanced sampling without reading images), and a report of what was read,
written and skipped, and why.

Example:

```python
report = prepare("utkface", manual_dir="~/raw/UTKFace", out_dir="data/utkface_128", image_size=128)
print(report.markdown())
```
"""

import dataclasses
import hashlib
import json
import math
import multiprocessing
import os
import shutil
import time

import numpy as np
import pandas as pd

from ragan_tf.data.age_groups import SCHEMES, spread_indices
from ragan_tf.data.datasets import get_dataset, parse_options
from ragan_tf.data.face_mask import DEFAULT_NON_FACE_LABELS
from ragan_tf.data.face_preparation import SKIP_REASONS, FacePreparer, image_loader
from ragan_tf.data.face_records import IMAGE_FORMATS, example_features
from ragan_tf.errors import RaganError
from ragan_tf.faces.detection import require_dlib

PLAN_FILE = "prepare.json"
PLAN_DEFAULTS = {"no_face": "keep"}  # settings added after the first preparations, at their old behaviour
FILE_TEMPLATE = "{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}"
#: How many of the images without a found face `report.md` lists (report.json lists all).
UNMASKED_LISTED = 50
LABEL_COLUMNS = ["key", "age", "age_low", "age_high", "identity", "gender", "mask_source"]


class PrepareError(RaganError, ValueError):
    """Settings that cannot be prepared (or continued) as asked."""


@dataclasses.dataclass(frozen=True)
class ShardTask:
    """One shard to prepare: everything a worker process needs."""

    dataset: str
    manual_dir: str
    out_dir: str
    split: str
    index: int
    num_shards: int
    records: tuple
    image_size: int
    alignment: str
    mask: str
    non_face_labels: tuple
    image_format: str
    detector: str
    multiple_faces: str
    no_face: str = "keep"

    @property
    def name(self):
        return f"{self.split}-{self.index:05d}-of-{self.num_shards:05d}"


def _template(out_dir, dataset, split):
    import tensorflow_datasets as tfds

    return tfds.core.ShardedFileTemplate(
        data_dir=out_dir, template=FILE_TEMPLATE, dataset_name=dataset, split=split, filetype_suffix="tfrecord"
    )


def shard_path(out_dir, dataset, split, index, num_shards):
    return os.fspath(_template(out_dir, dataset, split).sharded_filepath(shard_index=index, num_shards=num_shards))


def _summary_path(task):
    return os.path.join(task.out_dir, "shards", f"{task.name}.json")


def _write_atomically(path, write):
    temporary = path + ".incomplete"
    write(temporary)
    os.replace(temporary, path)


def prepare_shard(task):
    """Prepares and writes one shard; returns its summary dict (also saved as JSON).

    Every record is read, prepared and written or counted under a skip
    reason; an unexpected error on one image is counted as
    "failed: <ErrorType>" with its message, and the shard carries on.
    """
    import tensorflow as tf

    spec = get_dataset(task.dataset)
    features = example_features(task.image_size, task.image_format)
    preparer = FacePreparer(
        task.image_size,
        alignment=task.alignment,
        mask=task.mask,
        non_face_labels=task.non_face_labels,
        detector=task.detector,
        multiple_faces=task.multiple_faces,
        no_face=task.no_face,
    )
    skipped, skipped_examples, labels = {}, {}, []
    start = time.perf_counter()

    def skip(reason, record, detail=""):
        skipped[reason] = skipped.get(reason, 0) + 1
        examples = skipped_examples.setdefault(reason, [])
        if len(examples) < 5:
            examples.append(record.key + (f" ({detail})" if detail else ""))

    def write(path):
        with tf.io.TFRecordWriter(path) as writer:
            for record, rgb in image_loader(spec)(list(task.records), task.manual_dir):
                if isinstance(rgb, Exception):
                    skip("unreadable", record, str(rgb).splitlines()[0][:200])
                    continue
                try:
                    example, reason = preparer(record, rgb)
                except Exception as error:  # one bad image must not end a long run
                    skip(f"failed: {type(error).__name__}", record, str(error)[:200])
                    continue
                if reason:
                    skip(reason, record)
                    continue
                writer.write(features.serialize_example(example))
                labels.append([example[column] for column in LABEL_COLUMNS[:-1]] + [example["mask_source"]])

    path = shard_path(task.out_dir, task.dataset, task.split, task.index, task.num_shards)
    _write_atomically(path, write)
    summary = {
        "split": task.split,
        "index": task.index,
        "records": len(task.records),
        "written": len(labels),
        "skipped": skipped,
        "skipped_examples": skipped_examples,
        "seconds": time.perf_counter() - start,
        "bytes": os.path.getsize(path),
        "labels": [[_json_value(value) for value in row] for row in labels],
    }

    def dump(summary_path):
        with open(summary_path, "w") as file:
            json.dump(summary, file)

    _write_atomically(_summary_path(task), dump)
    return summary


def _json_value(value):
    if isinstance(value, (np.floating, float)):
        return None if math.isnan(float(value)) else float(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    return value


def _load_summary(task):
    path = _summary_path(task)
    shard = shard_path(task.out_dir, task.dataset, task.split, task.index, task.num_shards)
    if not (os.path.exists(path) and os.path.exists(shard)):
        return None
    with open(path) as file:
        return json.load(file)


@dataclasses.dataclass
class PrepareReport:
    """What `prepare` did.

    Attributes:
        dataset, out_dir, settings: what was prepared, where, how.
        listed: records the reader produced, per split.
        reader_skipped / reader_examples: rows the reader dropped, by reason.
        notes: the reader's notes (not skips) for the user.
        written: examples written, per split.
        skipped / skipped_examples: images dropped while preparing, by reason.
        mask_sources: examples per face-mask source.
        unmasked_examples: keys of the examples whose face was not found, so
            their mask is all ones (`mask_source` "none"), when a mask was asked for.
        group_counts: scheme -> list of examples per age group (train split).
        seconds: wall time of the shards prepared in this run.
        prepared_now / resumed: shards prepared in this run / found finished.
    """

    dataset: str
    out_dir: str
    settings: dict
    listed: dict
    reader_skipped: dict
    reader_examples: dict
    notes: list
    written: dict
    skipped: dict
    skipped_examples: dict
    mask_sources: dict
    unmasked_examples: list
    group_counts: dict
    seconds: float
    prepared_now: int
    resumed: int

    @property
    def images_per_second(self):
        processed = self.settings.get("processed_now", 0)
        return processed / self.seconds if self.seconds > 0 else float("nan")

    def to_dict(self):
        return dataclasses.asdict(self)

    def markdown(self):
        lines = [
            f"# Prepared {self.dataset}",
            "",
            f"Output: `{self.out_dir}`; {self.settings['image_size']} px, alignment "
            f"`{self.settings['alignment']}`, face mask `{self.settings['mask']}`, images "
            f"`{self.settings['image_format']}`.",
            "",
            "| split | listed by the reader | written | skipped while preparing |",
            "|---|---:|---:|---:|",
        ]
        for split in sorted(self.listed):
            lines.append(
                f"| {split} | {self.listed[split]} | {self.written.get(split, 0)} | "
                f"{self.listed[split] - self.written.get(split, 0)} |"
            )
        if self.notes:
            lines += ["", "## Notes", ""] + [f"- {note}" for note in self.notes]
        for title, counts, examples in (
            ("Dropped by the reader (labels)", self.reader_skipped, self.reader_examples),
            ("Skipped while preparing (pixels)", self.skipped, self.skipped_examples),
        ):
            lines += ["", f"## {title}", ""]
            if not counts:
                lines.append("None.")
            for reason, count in sorted(counts.items()):
                meaning = SKIP_REASONS.get(reason, "")
                lines.append(
                    f"- **{reason}**: {count}" + (f" ({meaning})" if meaning else "")
                    + f"; e.g. {', '.join(examples.get(reason, [])[:3])}"
                )
        lines += ["", "## Face masks", ""]
        lines += [f"- {source}: {count}" for source, count in sorted(self.mask_sources.items())]
        if self.unmasked_examples:
            shown = self.unmasked_examples[:UNMASKED_LISTED]
            lines += ["", f"No face was found in these {len(self.unmasked_examples)} images; they are kept with an "
                      "all-ones mask (the whole image counts as face)"
                      + (f"; the first {len(shown)} (all in report.json):" if len(shown) < len(self.unmasked_examples)
                         else ":"), ""]
            lines += [f"- `{key}`" for key in shown]
        lines += ["", "## Training examples per age group", ""]
        for scheme, counts in self.group_counts.items():
            labels = SCHEMES[scheme].labels
            lines.append(f"- {scheme}: " + ", ".join(f"{label}: {count}" for label, count in zip(labels, counts)))
        lines += [
            "",
            f"Prepared {self.prepared_now} shards in {self.seconds:.1f} s "
            f"({self.images_per_second:.1f} images/s); {self.resumed} shards were already finished.",
        ]
        return "\n".join(lines) + "\n"


def representative_records(records, count):
    """`count` records spread evenly over the ages (then names) of `records`, in name order.

    A `--limit` trial of the first names only would cover whatever the file
    names sort first (UTKFace: ages 10-15 and 100+); this keeps the youngest,
    the oldest and evenly spaced ages between. Records of unknown age come
    after the known ones in the spread.
    """
    records = list(records)
    if len(records) <= count:
        return sorted(records, key=lambda record: record.key)
    by_age = sorted(records, key=lambda record: (record.age_low < 0, record.age_low, record.age_high, record.key))
    picks = spread_indices(np.arange(len(by_age)), count)  # positions in that order
    return sorted((by_age[index] for index in picks), key=lambda record: record.key)


def _plan(spec, result, settings, shard_size):
    splits = {}
    for split in sorted({record.split for record in result.records}):
        records = sorted(result.split(split), key=lambda record: record.key)
        splits[split] = [records[start : start + shard_size] for start in range(0, len(records), shard_size)]
    digest = hashlib.sha256("\n".join(r.key + r.split for r in result.records).encode()).hexdigest()
    plan = {**settings, "dataset": spec.name, "shard_size": shard_size, "records_sha256": digest}
    plan["shards"] = {split: len(shards) for split, shards in splits.items()}
    return plan, splits


def _check_out_dir(out_dir, plan, overwrite):
    """Checks `out_dir` against `plan` and writes the plan there; True when it was (re)written now,
    False when an unfinished preparation with the same plan continues."""
    plan_path = os.path.join(out_dir, PLAN_FILE)
    if os.path.exists(plan_path):
        with open(plan_path) as file:
            previous = {**PLAN_DEFAULTS, **json.load(file)}  # settings added since: their defaults
        if previous != plan and not overwrite:
            changed = sorted(key for key in set(previous) | set(plan) if previous.get(key) != plan.get(key))
            raise PrepareError(
                f"{out_dir} holds a preparation with other settings ({', '.join(changed)} differ); "
                "choose another --out, or pass --overwrite to start it again."
            )
        if previous == plan and not overwrite:
            return False
    elif os.path.isdir(out_dir) and os.listdir(out_dir) and not overwrite:
        raise PrepareError(f"{out_dir} exists and is not a ragan-tf prepared folder; choose an empty or new --out.")
    if overwrite and os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    os.makedirs(os.path.join(out_dir, "shards"), exist_ok=True)
    with open(plan_path, "w") as file:
        json.dump(plan, file, indent=1)
    return True


def _first_missing(path):
    """The outermost folder of `path` that does not exist yet (`path` itself or one above it), or None."""
    missing = None
    while not os.path.exists(path):
        missing, parent = path, os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return missing


def _remove_this_run(out_dir, tasks, created, wrote_plan):
    """Removes what this run wrote to `out_dir`, and nothing that was there before it.

    `created`: the folder this run created to hold `out_dir` (removed whole), or None;
    `wrote_plan`: whether this run wrote `prepare.json` (else an earlier run's, kept
    with that run's finished shards).
    """
    if created is not None:
        shutil.rmtree(created, ignore_errors=True)
        return
    for task in tasks:
        for path in (shard_path(out_dir, task.dataset, task.split, task.index, task.num_shards), _summary_path(task)):
            if os.path.exists(path):
                os.remove(path)
    if wrote_plan:
        os.remove(os.path.join(out_dir, PLAN_FILE))
        if not os.listdir(os.path.join(out_dir, "shards")):
            os.rmdir(os.path.join(out_dir, "shards"))


def _nothing_usable(spec, manual_dir, out_dir, result, summaries, settings):
    """The one-line reason of a preparation whose every image was skipped."""
    skipped, examples = {}, {}
    for summary in summaries:
        for reason, count in summary["skipped"].items():
            skipped[reason] = skipped.get(reason, 0) + count
            examples.setdefault(reason, []).extend(summary["skipped_examples"].get(reason, []))
    reasons = []
    for reason, count in sorted(skipped.items(), key=lambda item: (-item[1], item[0])):
        example, meaning = (examples.get(reason) or [""])[0], SKIP_REASONS.get(reason)
        if "(" not in example and meaning:  # an example without its own detail: say what the reason means
            example += f" ({meaning})"
        reasons.append(f"{reason}: {count}" + (f", e.g. {example}" if example else ""))
    hints = []
    if "several faces" in skipped and settings["multiple_faces"] == "skip":
        hints.append("--multiple-faces largest takes the largest face")
    if "no face" in skipped and settings["alignment"] == "none" and settings["no_face"] == "skip":
        hints.append("--no-face keep keeps them with an all-ones mask")
    elif "no face" in skipped and settings["detector"] == "hog":  # "auto" tries the CNN already
        hints.append("--detector auto or cnn finds more faces")
    listed = sum(summary["records"] for summary in summaries)
    dropped = sum(result.skipped.values())
    return (
        f"{spec.name}: none of the {listed} images listed in {manual_dir} could be prepared, "
        f"so nothing was written to {out_dir}: " + "; ".join(reasons)
        + (f"; the reader also dropped {dropped} ({', '.join(f'{r}: {c}' for r, c in sorted(result.skipped.items()))})"
           if dropped else "")
        + (f". {'; '.join(hints)}." if hints else ".")
    )


def _run_tasks(tasks, workers, progress, total_records):
    """Prepares `tasks`, yielding summaries as they finish (in a process pool when workers > 1)."""
    done_records = 0
    start = time.perf_counter()

    def report(summary, position):
        nonlocal done_records
        done_records += summary["records"]
        elapsed = time.perf_counter() - start
        rate = done_records / elapsed if elapsed > 0 else float("nan")
        remaining = (total_records - done_records) / rate if rate > 0 else float("nan")
        progress(
            f"[{position}/{len(tasks)} shards] {summary['split']} {summary['index']}: "
            f"{summary['written']}/{summary['records']} written, {sum(summary['skipped'].values())} skipped"
            f" | {rate:.1f} images/s, about {remaining / 60:.1f} min left"
        )

    if workers <= 1 or len(tasks) <= 1:
        for position, task in enumerate(tasks, 1):
            summary = prepare_shard(task)
            report(summary, position)
            yield summary
        return
    context = multiprocessing.get_context("spawn")  # TensorFlow and dlib are not fork-safe
    from ragan_tf.quiet import quiet_worker  # workers import TensorFlow afresh: quiet them like the command

    with context.Pool(workers, initializer=quiet_worker) as pool:
        for position, summary in enumerate(pool.imap_unordered(prepare_shard, tasks), 1):
            report(summary, position)
            yield summary


def _require_detector(dataset, settings, given):
    """A one-line `MissingExtraError` before any work when the settings need face detection and
    dlib (the `faces` extra) is not installed; names the settings that need it."""
    needs = [key for key, value in (("alignment", settings["alignment"] != "none"),
                                    ("mask", settings["mask"] == "landmarks")) if value]
    flags = " and ".join(f"--{key} {settings[key]}" + ("" if given[key] else f" ({dataset}'s default)")
                         for key in needs)
    otherwise = "or pass --mask none (an all-ones face mask)" if needs == ["mask"] else ""
    require_dlib(f"Face detection for {flags}", otherwise=otherwise)


def prepare(
    dataset,
    manual_dir,
    out_dir,
    image_size=256,
    options=(),
    alignment=None,
    mask=None,
    non_face_labels=DEFAULT_NON_FACE_LABELS,
    image_format="raw",
    shard_size=1000,
    workers=None,
    detector="auto",
    multiple_faces="skip",
    no_face="keep",
    overwrite=False,
    limit=None,
    progress=print,
):
    """Prepares a raw dataset folder into `out_dir` (see the module docstring).

    Args:
        dataset: a registered dataset name (`ragan_tf.data.datasets.MODULES`).
        manual_dir: the folder the user downloaded the dataset into.
        out_dir: the output folder (created; an interrupted run in it continues).
        image_size: side of the prepared images.
        options: reader options as "key=value" strings.
        alignment: "none" or an alignment recipe; None takes the dataset's default.
        mask: "parsing", "landmarks" or "none"; None takes the dataset's default.
        non_face_labels: parsing classes outside the face mask (datasets with parsing maps).
        image_format: "raw", "png" or "jpeg" (see `example_features`).
        shard_size: records per TFRecord shard.
        workers: processes (default: all CPU cores, at most one per shard).
        detector: dlib detector ("auto", "hog", "cnn").
        multiple_faces: "skip" or "largest" (see `FacePreparer`).
        no_face: "keep" or "skip" aligned chips without a found face (see `FacePreparer`).
        overwrite: delete a previous preparation in `out_dir` first.
        limit: prepare only `limit` records of each split, spread over the ages (a trial run;
            `representative_records`).
        progress: called with one line per finished shard.

    Returns:
        A `PrepareReport`; `report.md` and `report.json` are also written to `out_dir`.

    Raises:
        FileNotFoundError: the raw folder or its metadata is missing (the
            message says what to download and where to put it).
        PrepareError / ValueError: settings that do not fit.
        MissingExtraError: settings that need face detection (an alignment, landmark masks)
            without dlib installed (the `faces` extra).
    """
    spec = get_dataset(dataset)
    if image_format not in IMAGE_FORMATS:
        raise PrepareError(f"image_format must be one of {', '.join(IMAGE_FORMATS)}; got {image_format!r}.")
    if not 16 <= int(image_size) <= 1024:
        raise PrepareError(f"image_size must be between 16 and 1024; got {image_size}.")
    if int(shard_size) < 1:
        raise PrepareError(f"shard_size must be positive; got {shard_size}.")
    reader_options = parse_options(spec, options)
    manual_dir = os.path.abspath(os.path.expanduser(os.fspath(manual_dir)))
    out_dir = os.path.abspath(os.path.expanduser(os.fspath(out_dir)))
    settings = {
        "image_size": int(image_size),
        "alignment": alignment or spec.alignment,
        "mask": mask or spec.mask,
        "non_face_labels": [int(label) for label in non_face_labels],
        "image_format": image_format,
        "detector": detector,
        "multiple_faces": multiple_faces,
        "no_face": no_face,
        "options": reader_options,
        "limit": limit,
    }
    try:  # validates alignment / mask / multiple_faces / no_face before any work
        preparer = FacePreparer(settings["image_size"], settings["alignment"], settings["mask"], non_face_labels,
                                detector, multiple_faces, no_face)
    except ValueError as error:
        raise PrepareError(str(error)) from None
    if preparer.needs_detector:  # dlib (the `faces` extra) finds the faces to align or to mask
        _require_detector(spec.name, settings, given={"alignment": alignment, "mask": mask})
    progress(f"Reading {spec.title} labels from {manual_dir} ...")
    result = spec.read_records(manual_dir, **reader_options)
    for note in result.notes:
        progress(f"Note: {note}")
    if limit is not None:
        kept = []
        for split in sorted({record.split for record in result.records}):
            kept += representative_records(result.split(split), int(limit))
        result = dataclasses.replace(result, records=kept)
    if not result.records:
        raise PrepareError(
            f"{spec.name}: the reader found no usable images in {manual_dir}"
            + ("; dropped: " + "; ".join(result.summary()) if result.skipped else "")
            + f".\n{spec.instructions.strip()}"
        )
    plan, splits = _plan(spec, result, settings, int(shard_size))
    created = _first_missing(out_dir)  # removed again if no image can be prepared
    wrote_plan = _check_out_dir(out_dir, plan, overwrite)
    tasks, summaries = [], []
    for split, shards in splits.items():
        for index, records in enumerate(shards):
            task = ShardTask(
                spec.name, manual_dir, out_dir, split, index, len(shards), tuple(records),
                settings["image_size"], settings["alignment"], settings["mask"],
                tuple(settings["non_face_labels"]), image_format, detector, multiple_faces, no_face,
            )
            summary = _load_summary(task)
            if summary is None:
                tasks.append(task)
            else:
                summaries.append(summary)
    resumed = len(summaries)
    total = sum(len(task.records) for task in tasks)
    progress(
        f"{len(result.records)} records in {sum(plan['shards'].values())} shards"
        + (f"; {resumed} shards already finished" if resumed else "")
        + (f"; dropped by the reader: {sum(result.skipped.values())}" if result.skipped else "")
    )
    workers = min(int(workers or os.cpu_count() or 1), max(len(tasks), 1))
    start = time.perf_counter()
    try:
        for summary in _run_tasks(tasks, workers, progress, total):
            summaries.append(summary)
    except KeyboardInterrupt:
        finished = len(summaries)
        raise PrepareError(
            f"interrupted with {finished} of {sum(plan['shards'].values())} shards finished; "
            "run the same command again to continue."
        ) from None
    if not any(summary["written"] for summary in summaries):  # before tfds metadata of empty splits
        _remove_this_run(out_dir, tasks, created, wrote_plan)
        raise PrepareError(_nothing_usable(spec, manual_dir, out_dir, result, summaries, settings))
    seconds = time.perf_counter() - start
    settings["processed_now"] = total
    report = _finish(spec, out_dir, plan, summaries, result, settings, seconds, len(tasks), resumed)
    progress(f"Wrote {sum(report.written.values())} examples to {out_dir} (report: report.md).")
    return report


def _finish(spec, out_dir, plan, summaries, result, settings, seconds, prepared_now, resumed):
    import tensorflow_datasets as tfds

    summaries = sorted(summaries, key=lambda summary: (summary["split"], summary["index"]))
    split_infos, written, skipped, skipped_examples, mask_sources, group_counts = [], {}, {}, {}, {}, {}
    unmasked = []
    for split in plan["shards"]:
        mine = [summary for summary in summaries if summary["split"] == split]
        split_infos.append(
            tfds.core.SplitInfo(
                name=split,
                shard_lengths=[summary["written"] for summary in mine],
                num_bytes=sum(summary["bytes"] for summary in mine),
                filename_template=_template(out_dir, spec.name, split),
            )
        )
        labels = pd.DataFrame([row for summary in mine for row in summary["labels"]], columns=LABEL_COLUMNS)
        labels.to_csv(os.path.join(out_dir, f"labels-{split}.csv"), index=False)
        written[split] = len(labels)
        for source, count in labels["mask_source"].value_counts().items():
            mask_sources[source] = mask_sources.get(source, 0) + int(count)
        if settings["mask"] != "none":
            unmasked += sorted(labels.loc[labels["mask_source"] == "none", "key"].astype(str))
        if split == "train":
            group_counts = {
                name: scheme.group_counts(labels["age_low"].to_numpy(), labels["age_high"].to_numpy()).tolist()
                for name, scheme in SCHEMES.items()
            }
        for summary in mine:
            for reason, count in summary["skipped"].items():
                skipped[reason] = skipped.get(reason, 0) + count
                skipped_examples.setdefault(reason, []).extend(summary["skipped_examples"].get(reason, []))
    tfds.folder_dataset.write_metadata(
        data_dir=out_dir,
        features=example_features(settings["image_size"], settings["image_format"]),
        split_infos=split_infos,
        filename_template=FILE_TEMPLATE,
        description=f"{spec.title} prepared by ragan-tf ({settings['image_size']} px).",
        homepage=spec.homepage,
        check_data=False,
    )
    report = PrepareReport(
        dataset=spec.name,
        out_dir=out_dir,
        settings=settings,
        listed={split: len(result.split(split)) for split in plan["shards"]},
        reader_skipped=dict(result.skipped),
        reader_examples=dict(result.skipped_examples),
        notes=list(result.notes),
        written=written,
        skipped=skipped,
        skipped_examples=skipped_examples,
        mask_sources=mask_sources,
        unmasked_examples=unmasked,
        group_counts=group_counts,
        seconds=seconds,
        prepared_now=prepared_now,
        resumed=resumed,
    )
    # The preview shows the train split, or the fullest split when every training image was skipped.
    preview_split = "train" if written.get("train") else max(sorted(written), key=written.get)
    _write_pictures(out_dir, spec, group_counts, preview_split)
    with open(os.path.join(out_dir, "report.json"), "w") as file:
        json.dump(report.to_dict(), file, indent=1, default=str)
    with open(os.path.join(out_dir, "report.md"), "w") as file:
        file.write(report.markdown())
    return report


def _write_pictures(out_dir, spec, group_counts, split):
    """`preview.png` (faces and masks per age group) and `age_groups.png` (training examples per group)."""
    from ragan_tf.data.preview import age_group_chart, prepared_preview
    from ragan_tf.visualization import save_png

    scheme = "ffhq_aging" if sum(group_counts.get("ffhq_aging", [])) else "unconditional"
    save_png(prepared_preview(out_dir, scheme, split=split), os.path.join(out_dir, "preview.png"))
    if group_counts:
        age_group_chart(
            group_counts[scheme], SCHEMES[scheme].labels, os.path.join(out_dir, "age_groups.png"),
            f"{spec.title}: training examples per age group ({scheme})",
        )


def config_plan(data_config):
    """`(data_dir, plan)` of the prepared folder a `DataConfig` names, checked against it.

    Raises:
        ConfigError: no `data.data_dir`, or the folder holds another dataset than `data.dataset`.
        FileNotFoundError: `data.data_dir` is not a prepared folder (`read_plan`).
    """
    from ragan_tf.config import ConfigError

    if not data_config.data_dir:
        raise ConfigError(
            f"data.dataset is {data_config.dataset!r}: set data.data_dir to the folder that "
            f"`ragan-tf prepare {data_config.dataset} --manual-dir RAW --out DIR` wrote."
        )
    data_dir = os.path.abspath(os.path.expanduser(data_config.data_dir))
    plan = read_plan(data_dir)
    if plan["dataset"] != data_config.dataset:
        raise ConfigError(
            f"{data_dir} holds {plan['dataset']!r}, but data.dataset is {data_config.dataset!r}; "
            "point data.data_dir at the right prepared folder or change data.dataset."
        )
    return data_dir, plan


def read_plan(out_dir):
    """The settings a prepared folder was made with (its `prepare.json`).

    Raises:
        FileNotFoundError: `out_dir` is not a finished `ragan-tf prepare` output.
    """
    path = os.path.join(os.path.expanduser(out_dir), PLAN_FILE)
    if not os.path.exists(path) or not os.path.exists(os.path.join(os.path.expanduser(out_dir), "dataset_info.json")):
        raise FileNotFoundError(
            f"{out_dir} is not a prepared dataset folder (no {PLAN_FILE} and dataset_info.json); "
            "create it with `ragan-tf prepare DATASET --manual-dir RAW --out DIR`, or finish an "
            "interrupted preparation by running the same command again."
        )
    with open(path) as file:
        return json.load(file)
