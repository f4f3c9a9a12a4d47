"""`ragan-tf evaluate`: transform every test face to every age group and measure the result.

Four questions, each answered by a pluggable metric:

- does the output look the target age? an `AgeEstimator` (synthetic: a
  regressor trained on synthetic faces; photos: the CC0 ONNX age model);
- is it the same person? an `IdentityEmbedder` (synthetic: a CosFace
  embedder trained on synthetic identities; photos: dlib's descriptor), and
  for synthetic faces the exact face-region error against
  `render(identity, target age)`;
- is everything else preserved? PSNR and SSIM outside the face mask;
- is the image realistic? FID / KID per target group against real test
  images of that group (InceptionV3 features; optional, needs weights);

plus the reconstruction error of G(x, y) when the target is the source group.
The result is one row per (test image, target group) in a pandas frame,
summarised per target group and overall, with plots.
"""

import dataclasses
import time
from pathlib import Path

import numpy as np

from ragan_tf.config import ConfigError, config_from_dict, load_config
from ragan_tf.data import synthetic_faces
from ragan_tf.data.age_groups import get_scheme
from ragan_tf.data.face_mask import face_mask_from_parsing
from ragan_tf.evaluation.image_metrics import l1_error, masked_psnr, masked_ssim
from ragan_tf.visualization import to_uint8


@dataclasses.dataclass
class EvaluationSet:
    """Test faces: float images in [-1, 1] [N, S, S, 3], masks [N, S, S, 1], ages, identities."""

    images: np.ndarray
    masks: np.ndarray
    ages: np.ndarray
    identities: np.ndarray
    seed: int = 0

    def __len__(self):
        return len(self.images)


def synthetic_test_set(data_config, count):
    """`count` faces of the synthetic test split (identities unseen in training), rendered exactly."""
    _, test_ids = synthetic_faces.split_identities(
        data_config.synthetic_identities, data_config.synthetic_test_fraction, data_config.synthetic_seed
    )
    pairs = [(int(identity), synthetic_faces.sample_age(int(identity), index, data_config.synthetic_seed))
             for index in range(count // len(test_ids) + 1) for identity in test_ids][:count]
    faces = [synthetic_faces.render(identity, age, data_config.image_size, data_config.synthetic_seed)
             for identity, age in pairs]
    return EvaluationSet(
        images=np.stack([face.image for face in faces]).astype(np.float32) / 127.5 - 1.0,
        masks=np.stack([face_mask_from_parsing(face.parsing, data_config.non_face_labels) for face in faces])[..., None],
        ages=np.array([age for _, age in pairs], np.float32),
        identities=np.array([identity for identity, _ in pairs], np.int64),
        seed=data_config.synthetic_seed,
    )


# ---------------------------------------------------------------- generators
def load_aging_function(path):
    """`f(images [-1, 1], masks, groups int) -> images [-1, 1]` from a run folder or an export.

    A folder with `saved_model.pb` is a `ragan-tf export` (its `generate`
    signature, at each group's anchor age); a folder with
    `generator_ema.keras` is a training run.
    """
    path = Path(path)
    if (path / "saved_model.pb").is_file():
        import tensorflow as tf

        from ragan_tf.inference.ager import read_model_card

        card = read_model_card(path)
        anchors = np.array([group["anchor_age"] for group in card["age_groups"]], np.float32)
        generate = tf.saved_model.load(str(path)).signatures["generate"]

        def exported(images, masks, groups):
            return generate(image=tf.constant(images, tf.float32), face_mask=tf.constant(masks, tf.float32),
                            target_age=tf.constant(anchors[np.asarray(groups)]))["aged_image"].numpy()

        return exported, config_from_dict(card["training"]["config"])
    from ragan_tf.export.saved_model import load_run

    config, generator = load_run(path)

    def trained(images, masks, groups):
        return np.asarray(generator(images, masks, np.asarray(groups, np.int32), training=False))

    return trained, config


def identity_function(images, masks, groups):
    """The identity baseline: output = input."""
    return np.asarray(images)


# ------------------------------------------------------------------ metrics
@dataclasses.dataclass
class Metrics:
    """The pluggable parts. Any may be None (its columns are then left out).

    Attributes:
        age_estimator: `.predict_ages(uint8 images) -> years`.
        identity_embedder: `.embed(uint8 images, masks) -> [N, D]` and `.distance(a, b) -> [N]`.
        inception: `InceptionFeatures` for FID/KID, or None to skip them.
        exact_truth: compare synthetic outputs with `render(identity, target anchor age)`.
    """

    age_estimator: object = None
    identity_embedder: object = None
    inception: object = None
    exact_truth: bool = True


def render_truth(evaluation_set, indices, target_age, image_size, non_face_labels):
    """The exact answer for test faces `indices` at `target_age`: uint8 renders [n, S, S, 3]
    and their face masks [n, S, S, 1]."""
    faces = [synthetic_faces.render(int(evaluation_set.identities[i]), float(target_age), image_size, evaluation_set.seed)
             for i in indices]
    images = np.stack([face.image for face in faces])
    masks = np.stack([face_mask_from_parsing(face.parsing, non_face_labels) for face in faces])[..., None]
    return images, masks


def evaluate_rows(aging_function, evaluation_set, scheme, metrics, batch_size=32, non_face_labels=(0, 14, 15, 16, 18),
                  progress=True):
    """Transforms every test image to every age group; one dict per (image, target group).

    Returns:
        `(rows, outputs, costs)`: the list of row dicts; per target group, the
        uint8 outputs (for FID/KID and example grids); seconds spent per metric
        and in the generator.
    """
    import keras

    size = evaluation_set.images.shape[1]
    source_groups = scheme.group_of(evaluation_set.ages)
    input_uint8 = to_uint8(evaluation_set.images)
    input_embeddings = None
    if metrics.identity_embedder is not None:
        input_embeddings = metrics.identity_embedder.embed(input_uint8, evaluation_set.masks)
    rows, outputs, costs = [], {group: [] for group in range(scheme.num_groups)}, {}
    batches = range(0, len(evaluation_set), batch_size)
    bar = keras.utils.Progbar(len(batches) * scheme.num_groups, unit_name="batch") if progress else None
    for group, anchor in enumerate(scheme.anchor_ages):
        for start in batches:
            index = np.arange(start, min(start + batch_size, len(evaluation_set)))
            aged = _timed(costs, "generator", lambda: to_uint8(aging_function(
                evaluation_set.images[index], evaluation_set.masks[index], np.full(len(index), group, np.int32))))
            outputs[group].append(aged)
            rows.extend(_batch_rows(aged, index, group, float(anchor), evaluation_set, source_groups, input_uint8,
                                    input_embeddings, metrics, size, non_face_labels, costs))
            if bar is not None:
                bar.add(1)
    return rows, {group: np.concatenate(images) for group, images in outputs.items()}, costs


def _timed(costs, key, function):
    start = time.perf_counter()
    value = function()
    costs[key] = costs.get(key, 0.0) + time.perf_counter() - start
    return value


def _batch_rows(aged, index, group, anchor, evaluation_set, source_groups, input_uint8, input_embeddings, metrics,
                size, non_face_labels, costs):
    background = 1.0 - evaluation_set.masks[index, ..., 0]
    pairs = list(enumerate(index))
    columns = {
        "image": index,
        "identity": evaluation_set.identities[index],
        "source_age": evaluation_set.ages[index],
        "source_group": source_groups[index],
        "target_group": np.full(len(index), group),
        "target_anchor_age": np.full(len(index), anchor),
        "age_gap": np.abs(anchor - evaluation_set.ages[index]),
        "background_psnr": _timed(costs, "background_psnr", lambda: [
            masked_psnr(aged[k], input_uint8[i], background[k]) for k, i in pairs]),
        "background_ssim": _timed(costs, "background_ssim", lambda: [
            masked_ssim(aged[k], input_uint8[i], background[k]) for k, i in pairs]),
        "input_l1": [l1_error(aged[k], input_uint8[i]) for k, i in pairs],
        "input_psnr": [masked_psnr(aged[k], input_uint8[i]) for k, i in pairs],
    }
    if metrics.age_estimator is not None:
        columns["predicted_age"] = _timed(costs, "age_estimator", lambda: np.asarray(
            metrics.age_estimator.predict_ages(aged), np.float64))
    if metrics.identity_embedder is not None:
        embeddings = _timed(costs, "identity_embedder", lambda: metrics.identity_embedder.embed(
            aged, evaluation_set.masks[index]))
        columns["identity_distance"] = np.asarray(
            metrics.identity_embedder.distance(input_embeddings[index], embeddings), np.float64)
    if metrics.exact_truth:
        def face_error():
            truth, truth_masks = render_truth(evaluation_set, index, anchor, size, non_face_labels)
            region = np.maximum(evaluation_set.masks[index], truth_masks)[..., 0]
            return [l1_error(aged[k], truth[k], region[k]) for k in range(len(index))]

        columns["face_l1_vs_truth"] = _timed(costs, "exact_truth", face_error)
    return [dict(zip(columns, values)) for values in zip(*columns.values())]


# ------------------------------------------------------------------ summary
PSNR_CAP = 100.0
AGE_COLUMNS = ("mean_predicted_age", "mae_to_anchor", "mae_to_range", "in_group_share", "nan_count")  # identical images have infinite PSNR; averages use this cap


def summarize(frame, scheme, identity_threshold=None):
    """Per-target-group and overall means of a row frame (transformations to another group only),
    plus the reconstruction error (rows whose target is the source group).

    Returns:
        A pandas DataFrame indexed by target group label, with an `overall` row.
    """
    import pandas as pd

    from ragan_tf.evaluation.age_estimators import age_group_metrics

    transformed = frame[frame.target_group != frame.source_group]

    def block(rows):
        summary = {"outputs": len(rows)}
        if "predicted_age" in rows:
            metrics = age_group_metrics(rows.predicted_age.to_numpy(), rows.target_group.to_numpy(), scheme)
            summary.update({f"age_{key}": metrics[key] for key in AGE_COLUMNS})
        if "identity_distance" in rows:
            summary["identity_distance"] = float(np.nanmean(rows.identity_distance))
            if identity_threshold is not None:
                valid = rows.identity_distance.dropna()
                summary["identity_verified"] = float(np.mean(valid < identity_threshold)) if len(valid) else np.nan
        if "face_l1_vs_truth" in rows:
            summary["face_l1_vs_truth"] = float(rows.face_l1_vs_truth.mean())
        summary["background_psnr_db"] = float(np.minimum(rows.background_psnr, PSNR_CAP).mean())
        summary["background_ssim"] = float(rows.background_ssim.mean())
        return summary

    table = {scheme.labels[group]: block(rows) for group, rows in transformed.groupby("target_group")}
    table["overall"] = block(transformed)
    summary = pd.DataFrame.from_dict(table, orient="index")
    reconstruction = frame[frame.target_group == frame.source_group]
    if len(reconstruction):
        summary.attrs["reconstruction_l1"] = float(reconstruction.input_l1.mean())
        summary.attrs["reconstruction_psnr_db"] = float(np.minimum(reconstruction.input_psnr, PSNR_CAP).mean())
    return summary


def image_quality(outputs, evaluation_set, scheme, inception):
    """FID and KID per target group: outputs for group g against the real test images of group g
    (groups with fewer than 2 real images are skipped)."""
    from ragan_tf.evaluation.image_metrics import fid, kid

    real_groups = scheme.group_of(evaluation_set.ages)
    real_features = inception(to_uint8(evaluation_set.images))
    result = {}
    for group, images in outputs.items():
        real = real_features[real_groups == group]
        if len(real) < 2:
            continue
        fake = inception(images)
        kid_mean, _ = kid(fake, real, subset_size=min(len(fake), len(real)))
        result[scheme.labels[group]] = {"fid": fid(fake, real), "kid": kid_mean, "real_images": len(real)}
    return result


# -------------------------------------------------------------------- plots
def save_plots(frame, scheme, out_dir, title):
    """`age_boxplot.png` (predicted age per target group against its range) and
    `identity_vs_gap.png` (identity distance against the age gap)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    written = []
    transformed = frame[frame.target_group != frame.source_group]
    if "predicted_age" in transformed:
        figure, axes = plt.subplots(figsize=(10, 4.5))
        data = [transformed[transformed.target_group == g].predicted_age.dropna() for g in range(scheme.num_groups)]
        axes.boxplot(data, showfliers=False)
        for position, (low, high) in enumerate(scheme.ranges, 1):
            axes.add_patch(plt.Rectangle((position - 0.4, low), 0.8, min(high, 100) - low, alpha=0.15, color="tab:green"))
        axes.set_xticks(range(1, scheme.num_groups + 1), scheme.labels)
        axes.set_xlabel("target age group (green: the group's range)")
        axes.set_ylabel("predicted age (years)")
        axes.set_title(f"{title}: predicted age of the outputs")
        written.append(_save(figure, out_dir / "age_boxplot.png"))
    if "identity_distance" in transformed:
        figure, axes = plt.subplots(figsize=(7, 4.5))
        gaps = transformed.age_gap.to_numpy()
        distances = transformed.identity_distance.to_numpy()
        axes.scatter(gaps, distances, s=4, alpha=0.3)
        bins = np.linspace(0, max(1.0, np.nanmax(gaps)), 10)
        centres = (bins[:-1] + bins[1:]) / 2
        means = [np.nanmean(distances[(gaps >= lo) & (gaps < hi)]) if np.any((gaps >= lo) & (gaps < hi)) else np.nan
                 for lo, hi in zip(bins[:-1], bins[1:])]
        axes.plot(centres, means, color="tab:red", label="mean per 10% of the range")
        axes.set_xlabel("age gap |target anchor age - source age| (years)")
        axes.set_ylabel("identity distance (input vs output)")
        axes.set_title(f"{title}: identity vs age gap")
        axes.legend()
        written.append(_save(figure, out_dir / "identity_vs_gap.png"))
    return written


def _save(figure, path):
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def example_grid(aging_function, evaluation_set, scheme, count=8, title=None):
    """Input and every target group for the first `count` test faces (uint8 picture)."""
    from ragan_tf.sampling import aging_grid

    count = min(count, len(evaluation_set))
    return aging_grid(
        lambda images, masks, groups, training=False: aging_function(images, masks, np.asarray(groups)),
        evaluation_set.images[:count], evaluation_set.masks[:count], scheme.labels,
        source_groups=scheme.group_of(evaluation_set.ages[:count]), title=title,
    )


# -------------------------------------------------------------- entry point
def markdown_table(frame, digits=3):
    """A pandas frame as a Markdown table (index as the first column); no `tabulate` needed.
    Columns holding only whole numbers (counts) are written without decimals."""
    def integral(column):
        values = np.asarray(frame[column], dtype=object)
        return all(isinstance(v, (int, np.integer)) or (isinstance(v, (float, np.floating)) and float(v).is_integer())
                   for v in values)

    whole = {column for column in frame.columns if integral(column)}

    def cell(value, column):
        if isinstance(value, (float, np.floating)):
            if np.isnan(value):
                return "n/a"
            return f"{int(value)}" if column in whole else f"{value:.{digits}f}"
        return str(value)

    header = ["", *map(str, frame.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for label, row in frame.iterrows():
        lines.append("| " + " | ".join([str(label), *(cell(v, c) for c, v in zip(frame.columns, row.tolist()))]) + " |")
    return "\n".join(lines)


def write_report(frame, summary, quality, out_dir, name):
    """`rows.csv`, `summary.csv` and `summary.md` in `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out_dir / "rows.csv", index=False)
    summary.to_csv(out_dir / "summary.csv")
    lines = [f"# Evaluation: {name}", "", markdown_table(summary), ""]
    if "reconstruction_l1" in summary.attrs:
        lines += [f"Reconstruction G(x, y) vs x (target = source group): mean L1 (0-255) "
                  f"{summary.attrs['reconstruction_l1']:.2f}, mean PSNR {summary.attrs['reconstruction_psnr_db']:.2f} dB", ""]
    if summary.attrs.get("seconds_per_100_outputs"):
        costs = summary.attrs["seconds_per_100_outputs"]
        lines += ["Cost, seconds per 100 outputs: " + ", ".join(f"{key} {value:.2f}" for key, value in costs.items()), ""]
    if quality:
        import pandas as pd

        lines += ["## Image quality (InceptionV3 features)", "",
                  markdown_table(pd.DataFrame.from_dict(quality, orient="index"), digits=4), ""]
    (out_dir / "summary.md").write_text("\n".join(lines))
    return out_dir / "summary.md"


def synthetic_metrics(data_config, estimator_identities=300, estimator_epochs=8, embedder_epochs=10, inception=None,
                      verbose=True):
    """The synthetic-data metrics, their models trained on training identities only
    (the evaluated test identities stay unseen)."""
    from ragan_tf.evaluation.age_estimators import SyntheticAgeEstimator
    from ragan_tf.evaluation.identity import SyntheticIdentityEmbedder

    train_ids, _ = synthetic_faces.split_identities(
        data_config.synthetic_identities, data_config.synthetic_test_fraction, data_config.synthetic_seed
    )
    identities = train_ids[:estimator_identities]
    start = time.perf_counter()
    age_estimator = SyntheticAgeEstimator.train(data_config.image_size, identities, epochs=estimator_epochs,
                                                seed=data_config.synthetic_seed)
    trained_age = time.perf_counter()
    embedder = SyntheticIdentityEmbedder.train(data_config.image_size, identities, epochs=embedder_epochs,
                                               seed=data_config.synthetic_seed)
    if verbose:
        print(f"Trained the synthetic age estimator ({trained_age - start:.0f} s) and identity embedder "
              f"({time.perf_counter() - trained_age:.0f} s) on {len(identities)} training identities.")
    return Metrics(age_estimator=age_estimator, identity_embedder=embedder, inception=inception, exact_truth=True)


def evaluate(model, out_dir, data=None, count=100, baselines=("identity",), metrics=None, batch_size=32,
             estimator_identities=300, estimator_epochs=8, embedder_epochs=10, inception=None, verbose=True):
    """Evaluates a run folder or an export on a test set; writes tables and plots to `out_dir`.

    Args:
        model: a `ragan-tf train` run folder or a `ragan-tf export` folder.
        out_dir: where `summary.md`, `summary.csv`, `rows.csv`, plots and the
            example grid go (baselines in `baseline_<name>/`).
        data: a pipeline YAML whose `data` section names the test set, or
            None for the data the model was trained on.
        count: test images (each is transformed to every age group).
        baselines: also evaluate `identity` (output = input) and/or
            `untrained` (a fresh generator of the same configuration).
        metrics: a `Metrics`; by default the synthetic metrics are trained.
        inception: an `InceptionFeatures` for FID/KID, or None to skip them.

    Returns:
        `{name: summary DataFrame}` for the model and each baseline.
    """
    import pandas as pd

    from ragan_tf.visualization import save_png

    aging_function, config = load_aging_function(model)
    data_config = load_config(data).data if data is not None else config.data
    if data_config.dataset != "synthetic":
        raise ConfigError(
            f"evaluate supports the synthetic dataset so far; got {data_config.dataset!r} "
            "(real-dataset readers are a separate issue)."
        )
    if data_config.image_size != config.data.image_size:
        raise ConfigError(f"the data's image_size {data_config.image_size} differs from the model's "
                          f"{config.data.image_size}.")
    scheme = get_scheme(config.data.age_groups)
    evaluation_set = synthetic_test_set(data_config, count)
    metrics = metrics or synthetic_metrics(data_config, estimator_identities, estimator_epochs, embedder_epochs,
                                           inception, verbose)
    candidates = {"model": aging_function}
    for baseline in baselines:
        if baseline == "identity":
            candidates["identity"] = identity_function
        elif baseline == "untrained":
            from ragan_tf.models.ragan.builders import build_generator

            untrained = build_generator(config)
            candidates["untrained"] = lambda x, m, g: np.asarray(untrained(x, m, np.asarray(g, np.int32), training=False))
        else:
            raise ConfigError(f"Unknown baseline {baseline!r}; choose identity or untrained.")
    out_dir = Path(out_dir)
    threshold = getattr(metrics.identity_embedder, "threshold", None)
    summaries, costs = {}, {}
    for name, function in candidates.items():
        folder = out_dir if name == "model" else out_dir / f"baseline_{name}"
        if verbose:
            print(f"Evaluating {name}: {len(evaluation_set)} test faces x {scheme.num_groups} age groups")
        start = time.perf_counter()
        rows, outputs, metric_costs = evaluate_rows(function, evaluation_set, scheme, metrics, batch_size,
                                                    data_config.non_face_labels, progress=verbose)
        costs[name] = time.perf_counter() - start
        frame = pd.DataFrame(rows)
        summary = summarize(frame, scheme, threshold)
        if metrics.inception:
            quality = _timed(metric_costs, "fid_kid", lambda: image_quality(outputs, evaluation_set, scheme,
                                                                             metrics.inception))
        else:
            quality = {}
        summary.attrs["seconds_per_100_outputs"] = {key: 100 * seconds / len(frame) for key, seconds in metric_costs.items()}
        write_report(frame, summary, quality, folder, f"{name} ({model})")
        save_plots(frame, scheme, folder, name)
        if name != "identity":
            save_png(example_grid(function, evaluation_set, scheme, title=f"{name}: test faces"), folder / "examples.png")
        summaries[name] = summary
    comparison = pd.DataFrame({name: summary.loc["overall"] for name, summary in summaries.items()}).T
    (out_dir / "comparison.md").write_text(
        "# Overall, model against baselines (transformations to another group)\n\n" + markdown_table(comparison) + "\n")
    if verbose:
        print(markdown_table(comparison))
        print(f"Wrote {out_dir}/summary.md, summary.csv, rows.csv, comparison.md, plots and examples.png "
              f"({', '.join(f'{name} {seconds:.0f} s' for name, seconds in costs.items())})")
    return summaries
