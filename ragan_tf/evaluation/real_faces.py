"""`ragan-tf evaluate` on real faces: a prepared test split, photo estimators and their own error.

Real faces have no exact aged truth, so the evaluation leans on two
estimators that can be wrong: the CC0 photo age model (`PhotoAgeEstimator`)
and dlib's face descriptor (`DlibFaceDescriptor`). This module makes their
error visible beside the model's:

- `real_test_set` reads `count` faces of a prepared folder's test split,
  spread over the ages (`prepare.representative_records`' rule), with their
  names, masks and whether the mask was found (`mask_source`);
- `photo_metrics` runs both estimators on copies enlarged to `photo_side`
  px (default 128: dlib's detectors find faces from about 40 px, which a
  64 px chip's face barely is; the estimators cut their own 64 / 150 px
  chips anyway; on 40 UTKFace test chips at 64 px the age MAE was 5.2 years
  native, 5.3 at 128 px and 6.0 at 256 px, every face found);
- `estimator_check` is the estimators on the *unchanged* inputs against the
  labelled ages, per source age band: the estimator's bias (it pulls the
  ends of the age range toward the middle) read beside every model figure;
- `source_band_table`: per target group, the outputs' mean predicted age
  by source age band, to read against that bias;
- `age_gap_table`: identity distance and verification per age gap;
- `missed_faces`: every output or input an estimator found no face in, by name.
"""

import numpy as np

from ragan_tf.config import ConfigError

AGE_BANDS = ((0, 9), (10, 19), (20, 29), (30, 39), (40, 49), (50, 59), (60, 69), (70, 120))
GAP_BANDS = ((0, 10), (10, 20), (20, 40), (40, 200))
PHOTO_SIDE = 128  # measured: docs/BENCHMARKS.md, "RAGAN on real faces"


def band_labels(bands):
    return [f"{low}-{high}" if high < 120 else f"{low}+" for low, high in bands]


def band_of(values, bands, inclusive_high=True):
    """Index of the band each value falls in (-1: none). Age bands are inclusive integer
    ranges (ages floored); gap bands are half-open [low, high)."""
    values = np.asarray(values, np.float64)
    index = np.full(values.shape, -1, np.int64)
    for number, (low, high) in enumerate(bands):
        if inclusive_high:
            years = np.floor(values)
            index[(years >= low) & (years <= high)] = number
        else:
            index[(values >= low) & (values < high)] = number
    return index


def real_test_set(data_config, count, split="test"):
    """`count` faces of a prepared folder's test split, spread over the ages, as an `EvaluationSet`.

    Faces whose labelled age range straddles two groups of the config's
    scheme, or whose age is unknown, are left out (they have no source
    group). Identities are the records' (-1 where the dataset has none).
    """
    from ragan_tf.data.age_groups import get_scheme, spread_indices
    from ragan_tf.data.face_records import MASK_SOURCES
    from ragan_tf.data.pipeline import example_source
    from ragan_tf.evaluation.evaluate import EvaluationSet

    source = example_source(data_config)
    if split not in source.splits:
        raise ConfigError(f"{source.description} has no {split!r} split to evaluate on "
                          f"(splits: {', '.join(sorted(source.splits))}).")
    labels = source.labels(split)
    scheme = get_scheme(data_config.age_groups)
    groups = scheme.group_of_range(labels["age_low"].to_numpy(), labels["age_high"].to_numpy())
    usable = np.flatnonzero(groups >= 0)
    if not len(usable):
        raise ConfigError(f"{source.description}: no test face has an age inside one group of "
                          f"{data_config.age_groups!r}.")
    ages = (labels["age_low"].to_numpy(np.float64) + labels["age_high"].to_numpy(np.float64)) / 2
    chosen = usable[spread_indices(ages[usable], int(count))]
    import tensorflow as tf

    wanted = set(labels["key"].astype(str).to_numpy()[chosen])
    keys = tf.constant(sorted(wanted))
    found = {}
    dataset = source.read(split, shuffle_files=False, seed=None)
    dataset = dataset.filter(lambda example: tf.reduce_any(tf.equal(example["key"], keys)))  # decode only these
    dataset = dataset.batch(64).map(source.decode_batch)
    for batch in dataset.as_numpy_iterator():
        for k, key in enumerate(batch["key"]):
            key = key.decode()
            if key in wanted:
                found[key] = {name: batch[name][k] for name in ("image", "face_mask", "identity", "mask_source",
                                                                "age_low", "age_high", "gender")}
    keys = sorted(found, key=lambda key: ((found[key]["age_low"] + found[key]["age_high"]) / 2, key))
    if not keys:
        raise ConfigError(f"{source.description}: none of the chosen test faces could be read.")
    pick = lambda name: np.stack([found[key][name] for key in keys])  # noqa: E731
    return EvaluationSet(
        images=pick("image").astype(np.float32) / 127.5 - 1.0,
        masks=pick("face_mask").astype(np.float32) / 255.0,
        ages=(pick("age_low") + pick("age_high")).astype(np.float32) / 2,
        identities=pick("identity").astype(np.int64),
        names=tuple(keys),
        mask_found=pick("mask_source") != MASK_SOURCES.index("none"),
        genders=pick("gender").astype(np.int32),
    )


class PhotoSized:
    """An age estimator or identity embedder for photos, given copies enlarged to `side` px.

    Images at least `side` px are passed unchanged; smaller ones are resized
    (bicubic) so their shorter side is `side`. Every other attribute is the
    wrapped estimator's.
    """

    def __init__(self, inner, side=PHOTO_SIDE):
        self.inner, self.side = inner, int(side)

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def _enlarged(self, images):
        import cv2

        from ragan_tf.evaluation.image_batches import image_list

        enlarged = []
        for image in image_list(images):
            zoom = self.side / min(image.shape[:2])
            enlarged.append(image if zoom <= 1 else cv2.resize(image, None, fx=zoom, fy=zoom,
                                                               interpolation=cv2.INTER_CUBIC))
        return enlarged

    def predict_ages(self, images):
        return self.inner.predict_ages(self._enlarged(images))

    def embed(self, images, face_masks=None):
        return self.inner.embed(self._enlarged(images), face_masks)

    def predict_age_and_gender(self, image):
        return self.inner.predict_age_and_gender(self._enlarged([image])[0])


def photo_metrics(inception=None, photo_side=PHOTO_SIDE, detector="auto"):
    """The real-face `Metrics`: the CC0 photo age model and dlib's descriptor, on copies
    enlarged to `photo_side` px; no exact truth."""
    from ragan_tf.evaluation.age_estimators import PhotoAgeEstimator
    from ragan_tf.evaluation.evaluate import Metrics
    from ragan_tf.evaluation.identity import DlibFaceDescriptor

    return Metrics(age_estimator=PhotoSized(PhotoAgeEstimator(detector), photo_side),
                   identity_embedder=PhotoSized(DlibFaceDescriptor(detector), photo_side),
                   inception=inception, exact_truth=False)


def estimator_check(evaluation_set, age_estimator, scheme):
    """The age estimator on the unchanged inputs against their labelled ages, per source age band
    (and `overall`): faces, faces without a found face, mean labelled and predicted age, bias
    (predicted - labelled), MAE, and the share predicted in the labelled group.

    Returns:
        `(DataFrame, predicted ages [N])`.
    """
    import pandas as pd

    from ragan_tf.visualization import to_uint8

    predicted = np.asarray(age_estimator.predict_ages(to_uint8(evaluation_set.images)), np.float64)
    labelled = np.asarray(evaluation_set.ages, np.float64)
    bands = band_of(labelled, AGE_BANDS)
    table = {}
    for label, members in [*((label, bands == b) for b, label in enumerate(band_labels(AGE_BANDS))),
                           ("overall", np.ones(len(labelled), bool))]:
        if not members.any():
            continue
        valid = members & ~np.isnan(predicted)
        error = predicted[valid] - labelled[valid]
        table[label] = {
            "faces": int(members.sum()), "no_face_found": int((members & np.isnan(predicted)).sum()),
            "mean_labelled_age": float(labelled[members].mean()),
            "mean_predicted_age": float(predicted[valid].mean()) if valid.any() else np.nan,
            "bias": float(error.mean()) if valid.any() else np.nan,
            "mae": float(np.abs(error).mean()) if valid.any() else np.nan,
            "in_labelled_group": float(np.mean(scheme.group_of(predicted[valid]) == scheme.group_of(labelled[valid])))
            if valid.any() else np.nan,
        }
    return pd.DataFrame.from_dict(table, orient="index"), predicted


def source_band_table(frame, scheme):
    """Mean predicted age of the outputs: one row per target group, one column per source age band
    (transformations to another group only)."""
    transformed = frame[frame.target_group != frame.source_group].copy()
    labels = band_labels(AGE_BANDS)
    transformed["source_band"] = [labels[b] if b >= 0 else "other" for b in band_of(transformed.source_age, AGE_BANDS)]
    table = transformed.pivot_table(index="target_group", columns="source_band", values="predicted_age",
                                    aggfunc="mean")
    table = table.reindex(columns=[label for label in labels if label in table.columns])
    table.index = [scheme.labels[group] for group in table.index]
    return table


def age_gap_table(frame, threshold):
    """Identity distance and verification (distance < `threshold`) per age gap band
    |target anchor - source age| (transformations to another group only)."""
    import pandas as pd

    transformed = frame[frame.target_group != frame.source_group]
    bands = band_of(transformed.age_gap, GAP_BANDS, inclusive_high=False)
    table = {}
    for number, (low, high) in enumerate(GAP_BANDS):
        distances = transformed.identity_distance[bands == number].dropna()
        if len(transformed[bands == number]):
            table[f"{low}-{high} years" if high < 200 else f"{low}+ years"] = {
                "outputs": int((bands == number).sum()), "judged": len(distances),
                "identity_distance": float(distances.mean()) if len(distances) else np.nan,
                "identity_verified": float(np.mean(distances < threshold)) if len(distances) else np.nan,
            }
    return pd.DataFrame.from_dict(table, orient="index")


def missed_faces(frame, evaluation_set, input_ages):
    """Rows naming every output (and input) in which an estimator found no face.

    Returns:
        A DataFrame with `name`, `what` ("input" or "output to GROUP"), `age_estimator`
        and `identity` flags (True: no face found).
    """
    import pandas as pd

    rows = [{"name": evaluation_set.names[index], "what": "input", "age_estimator": True, "identity": False}
            for index in np.flatnonzero(np.isnan(input_ages))]
    no_age = frame.predicted_age.isna() if "predicted_age" in frame else pd.Series(False, index=frame.index)
    no_identity = frame.identity_distance.isna() if "identity_distance" in frame else pd.Series(False, index=frame.index)
    for _, row in frame[no_age | no_identity].iterrows():
        rows.append({"name": evaluation_set.names[int(row.image)], "what": f"output to group {int(row.target_group)}",
                     "age_estimator": bool(no_age[row.name]), "identity": bool(no_identity[row.name])})
    return pd.DataFrame(rows, columns=["name", "what", "age_estimator", "identity"])
