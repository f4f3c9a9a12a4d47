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
from ragan_tf.evaluation.image_metrics import l1_error, masked_psnr, masked_ssim
from ragan_tf.visualization import to_uint8


@dataclasses.dataclass
class EvaluationSet:
    """Test faces: float images in [-1, 1] [N, S, S, 3], masks [N, S, S, 1], ages, identities;
    for real faces also their names and whether a face mask was found for each."""

    images: np.ndarray
    masks: np.ndarray
    ages: np.ndarray
    identities: np.ndarray
    seed: int = 0
    names: tuple = ()
    mask_found: np.ndarray = None
    genders: np.ndarray = None  # 0 male, 1 female, -1 unknown; None: unknown for all

    def source(self, index, scheme):
        """`(source age groups, genders)` of the faces `index`, for age transformers that take them."""
        genders = np.full(len(index), -1, np.int32) if self.genders is None else self.genders[index]
        return scheme.group_of(self.ages[index]).astype(np.int32), genders

    def __len__(self):
        return len(self.images)


def synthetic_test_set(data_config, count):
    """`count` faces of the synthetic test split (identities unseen in training), rendered exactly."""
    _, test_ids = synthetic_faces.split_identities(
        data_config.synthetic_identities, data_config.synthetic_test_fraction, data_config.synthetic_seed
    )
    pairs = [(int(identity), synthetic_faces.sample_age(int(identity), index, data_config.synthetic_seed))
             for index in range(count // len(test_ids) + 1) for identity in test_ids][:count]
    identities, ages = [identity for identity, _ in pairs], [age for _, age in pairs]
    faces = synthetic_faces.render_faces(
        identities, ages, data_config.image_size, data_config.synthetic_seed, data_config.non_face_labels
    )
    return EvaluationSet(
        images=faces.images.astype(np.float32) / 127.5 - 1.0,
        masks=faces.face_masks,
        ages=np.array(ages, np.float32),
        identities=np.array(identities, np.int64),
        seed=data_config.synthetic_seed,
        genders=np.array([synthetic_faces.identity_traits(i, data_config.synthetic_seed).gender for i in identities],
                         np.int32),
    )


# ---------------------------------------------------------------- generators
@dataclasses.dataclass
class ModelFunctions:
    """A model's task contracts as numpy functions (either may be None).

    Attributes:
        age_transformer: `f(images [-1, 1], masks, groups int) -> images [-1, 1]`.
        sampler: `f(noise [N, noise_dim], groups int [N] or None) -> images [-1, 1]`.
        noise_dim: the sampler's noise size.
        conditional: whether the sampler takes age groups.
    """

    age_transformer: object = None
    sampler: object = None
    noise_dim: int = 0
    conditional: bool = False


#: The most (face, target group) pairs one `age_sweep` call of an in-memory network renders.
SWEEP_ROWS = 64


def network_functions(model, graph=False):
    """`ModelFunctions` of an in-memory inference network (`ragan_tf.models.tasks` contracts); with
    `graph`, its calls run as `tf.function` graphs (which TensorFlow's graph rewrites, such as the
    bfloat16 one of `--precision`, apply to) instead of eagerly."""
    import tensorflow as tf

    from ragan_tf.models.tasks import tasks_of

    def call(method):
        return tf.function(method, reduce_retracing=True) if graph else method

    tasks = tasks_of(model)
    functions = ModelFunctions()
    transformer, sampler = tasks["age_transformer"], tasks["sampler"]
    if transformer is not None:
        takes_source = getattr(transformer, "takes_source", False)  # the conditional VAE: the faces' own age, gender
        age_faces, age_sweep = call(transformer.age_faces), call(transformer.age_sweep)

        def age_transformer(images, masks, groups, source=None):
            extra = {} if source is None else {"source_age": np.asarray(source[0], np.int32),
                                               "gender": np.asarray(source[1], np.int32)}
            return np.asarray(age_faces(images, masks, np.asarray(groups, np.int32), **extra))

        age_transformer.takes_source = takes_source
        if not takes_source:  # every group of a batch at once (RAGAN: each face encoded once)
            def sweep(images, masks, groups):
                groups = np.asarray(groups, np.int32)
                step = max(1, SWEEP_ROWS // len(groups))  # network batches of at most SWEEP_ROWS (face, age) pairs
                return np.concatenate([np.asarray(age_sweep(
                    images[start:start + step], masks[start:start + step], groups, training=False))
                    for start in range(0, len(images), step)])

            age_transformer.sweep = sweep
        functions.age_transformer = age_transformer
    if sampler is not None:
        draw = call(sampler)
        functions.sampler = lambda noise, groups: np.asarray(draw(
            noise, None if groups is None else np.asarray(groups, np.int32), training=False))
        functions.noise_dim, functions.conditional = int(sampler.noise_dim), bool(sampler.conditional)
    return functions


def export_functions(path, card):
    """`ModelFunctions` of a `ragan-tf export` (its float core signatures, at each group's anchor age)."""
    import tensorflow as tf

    anchors = np.array([group["anchor_age"] for group in card["age_groups"]], np.float32)
    signatures = tf.saved_model.load(str(path)).signatures
    functions = ModelFunctions()
    if "generate" in signatures:
        generate = signatures["generate"]

        def exported(images, masks, groups):
            return generate(image=tf.constant(images, tf.float32), face_mask=tf.constant(masks, tf.float32),
                            target_age=tf.constant(anchors[np.asarray(groups)]))["aged_image"].numpy()

        functions.age_transformer = exported
    if "with_source" in signatures:  # the conditional VAE, Age-cGAN: the faces' own age group and gender
        with_source = signatures["with_source"]

        def exported_with_source(images, masks, groups, source=None):
            count = len(images)
            if source is None:
                source_age, gender = np.full(count, -1), np.full(count, -1)
            else:
                source_groups = np.asarray(source[0])
                source_age = np.where(source_groups >= 0, np.round(anchors[np.maximum(source_groups, 0)]), -1)
                gender = np.asarray(source[1])
            aged = with_source(image=tf.constant(to_uint8(images)), face_mask=tf.constant(masks, tf.float32),
                               target_age=tf.constant(np.round(anchors[np.asarray(groups)]), tf.int32),
                               source_age=tf.constant(source_age, tf.int32),
                               gender=tf.constant(gender, tf.int32))["aged_image"].numpy()
            return aged.astype(np.float32) / 127.5 - 1.0

        exported_with_source.takes_source = True
        functions.age_transformer = exported_with_source
    if "generate_from_noise" in signatures:
        from_noise = signatures["generate_from_noise"]
        specs = from_noise.structured_input_signature[1]

        def sampled(noise, groups):
            ages = {} if groups is None else {"target_age": tf.constant(anchors[np.asarray(groups)])}
            return from_noise(noise=tf.constant(noise, tf.float32), **ages)["images"].numpy()

        functions.sampler = sampled
        functions.noise_dim, functions.conditional = int(specs["noise"].shape[1]), "target_age" in specs
    return functions


def load_model_functions(path, graph=False):
    """`(ModelFunctions, config)` of a run folder or an export.

    A folder with `saved_model.pb` is a `ragan-tf export`; a folder with
    `config.yaml` and `inference_model.keras` is a training run (its network called
    as graphs with `graph`: `network_functions`).
    """
    path = Path(path)
    if (path / "saved_model.pb").is_file():
        from ragan_tf.export.model_card import read_model_card

        card = read_model_card(path)
        return export_functions(path, card), config_from_dict(card["training"]["config"])
    from ragan_tf.export.saved_model import load_run

    config, model = load_run(path)
    return network_functions(model, graph), config


def load_aging_function(path):
    """`(f(images [-1, 1], masks, groups int) -> images [-1, 1], config)` of an age transformer's
    run folder or export; a clear error for a sampler."""
    functions, config = load_model_functions(path)
    if functions.age_transformer is None:
        raise ConfigError(f"{path}: a {config.model.type} model is a sampler; it does not transform faces.")
    return functions.age_transformer, config


def functions_in_precision(functions, precision):
    """`functions` with each network call computed in `precision` (`ragan_tf.precision`)."""
    from ragan_tf.precision import in_precision

    if precision == "float32":
        return functions
    changed = {}
    for task in ("age_transformer", "sampler"):
        function = getattr(functions, task)
        if function in (None, identity_function):
            continue
        changed[task] = in_precision(function, precision)  # keeps its attributes (functools.wraps)
        if getattr(function, "sweep", None) is not None:
            changed[task].sweep = in_precision(function.sweep, precision)
    return dataclasses.replace(functions, **changed)


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
    identities = [int(evaluation_set.identities[i]) for i in indices]
    images, masks = synthetic_faces.render_faces(
        identities, [float(target_age)] * len(identities), image_size, evaluation_set.seed, non_face_labels
    )
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
    groups = np.arange(scheme.num_groups, dtype=np.int32)
    sweep = getattr(aging_function, "sweep", None)
    for start in batches:
        index = np.arange(start, min(start + batch_size, len(evaluation_set)))
        images, masks = evaluation_set.images[index], evaluation_set.masks[index]
        extra = ({"source": evaluation_set.source(index, scheme)} if getattr(aging_function, "takes_source", False)
                 else {})
        swept = _timed(costs, "generator", lambda: to_uint8(sweep(images, masks, groups))) if sweep else None
        for group, anchor in enumerate(scheme.anchor_ages):
            aged = swept[:, group] if swept is not None else _timed(costs, "generator", lambda: to_uint8(
                aging_function(images, masks, np.full(len(index), group, np.int32), **extra)))
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


def _background(metric, aged, original, weight):
    """`metric` over the background pixels; NaN where the face mask covers the whole image
    (real chips in which no face was found)."""
    return metric(aged, original, weight) if weight.sum() > 0 else float("nan")


def _batch_rows(aged, index, group, anchor, evaluation_set, source_groups, input_uint8, input_embeddings, metrics,
                size, non_face_labels, costs):
    background = 1.0 - evaluation_set.masks[index, ..., 0]
    pairs = list(enumerate(index))
    columns = {
        "image": index,
        **({"name": [evaluation_set.names[i] for i in index]} if evaluation_set.names else {}),
        "identity": evaluation_set.identities[index],
        "source_age": evaluation_set.ages[index],
        "source_group": source_groups[index],
        "target_group": np.full(len(index), group),
        "target_anchor_age": np.full(len(index), anchor),
        "age_gap": np.abs(anchor - evaluation_set.ages[index]),
        "background_psnr": _timed(costs, "background_psnr", lambda: [
            _background(masked_psnr, aged[k], input_uint8[i], background[k]) for k, i in pairs]),
        "background_ssim": _timed(costs, "background_ssim", lambda: [
            _background(masked_ssim, aged[k], input_uint8[i], background[k]) for k, i in pairs]),
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
            summary["identity_distance"] = float(rows.identity_distance.mean())  # NaN rows (no face) left out
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


def image_quality(outputs, evaluation_set, scheme, inception=None):
    """Realism per target group: outputs for group g against the real test images of group g
    (groups with fewer than 2 real images are skipped), and `overall` (every output against every
    real test image). SWD (Laplacian-pyramid sliced Wasserstein, x1e3; needs no weights) always;
    FID and KID when `inception` (InceptionV3 features) is given."""
    from ragan_tf.evaluation.image_metrics import fid, kid
    from ragan_tf.evaluation.swd import swd

    real_groups = scheme.group_of(evaluation_set.ages)
    real_images = to_uint8(evaluation_set.images)
    real_features = inception(real_images) if inception else None
    sets = {scheme.labels[group]: (images, real_groups == group) for group, images in outputs.items()}
    sets["overall"] = (np.concatenate(list(outputs.values())), np.ones(len(real_images), bool))
    result = {}
    for label, (images, real) in sets.items():
        if real.sum() < 2 or len(images) < 2:
            continue
        row = {"swd": swd(images, real_images[real])["swd_mean"], "real_images": int(real.sum())}
        if inception:
            fake = inception(images)
            row["fid"] = fid(fake, real_features[real])
            row["kid"] = kid(fake, real_features[real], subset_size=min(len(fake), int(real.sum())))[0]
        result[label] = row
    return result


# ----------------------------------------------------------------- samplers
def draw_samples(sample_function, noise_dim, conditional, scheme, count, seed=0, batch_size=64):
    """`count` samples per age group (conditional) or in all (unconditional), from seeded noise.

    Returns:
        `{group: uint8 [count, S, S, 3]}` (group 0 only for an unconditional sampler).
    """
    rng = np.random.default_rng(seed)
    groups = range(scheme.num_groups) if conditional else [0]
    samples = {}
    for group in groups:
        noise = rng.standard_normal((count, noise_dim)).astype(np.float32)
        batches = [to_uint8(sample_function(noise[start:start + batch_size],
                                            np.full(len(noise[start:start + batch_size]), group, np.int32)
                                            if conditional else None))
                   for start in range(0, count, batch_size)]
        samples[group] = np.concatenate(batches)
    return samples


def sampler_summary(samples, conditional, evaluation_set, scheme, age_estimator=None):
    """Per age group (conditional) or `all` (unconditional): SWD against the real test images of
    that group (all of them for an unconditional sampler) and, with an age estimator, the
    predicted ages of the samples. Returns `(summary DataFrame, {label: predicted ages})`."""
    import pandas as pd

    from ragan_tf.evaluation.age_estimators import age_group_metrics
    from ragan_tf.evaluation.swd import swd

    real_images = to_uint8(evaluation_set.images)
    real_groups = scheme.group_of(evaluation_set.ages)
    table, predicted = {}, {}
    for group, images in samples.items():
        label = scheme.labels[group] if conditional else "all"
        real = real_groups == group if conditional else np.ones(len(real_images), bool)
        row = {"samples": len(images), "real_images": int(real.sum())}
        if real.sum() >= 2:
            distances = swd(images, real_images[real])
            row["swd"] = distances.pop("swd_mean")
            row.update(distances)  # per pyramid level: the levels can disagree (docs/BENCHMARKS.md)
        if age_estimator is not None:
            ages = np.asarray(age_estimator.predict_ages(images), np.float64)
            predicted[label] = ages
            row["mean_predicted_age"] = float(np.nanmean(ages))
            if conditional:
                metrics = age_group_metrics(ages, np.full(len(ages), group), scheme)
                row["age_in_group_share"] = metrics["in_group_share"]
        table[label] = row
    if conditional:
        everything = np.concatenate(list(samples.values()))
        distances = swd(everything, real_images)
        table["overall"] = {"samples": len(everything), "real_images": len(real_images),
                            "swd": distances.pop("swd_mean"), **distances}
        if predicted:
            table["overall"]["mean_predicted_age"] = float(np.nanmean(np.concatenate(list(predicted.values()))))
    return pd.DataFrame.from_dict(table, orient="index"), predicted


def save_age_histogram(predicted, evaluation_set, scheme, path, title):
    """Histogram of the samples' predicted ages, one panel per group, with the real test faces'
    ages of that group for reference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(predicted)
    figure, axes = plt.subplots(1, len(labels), figsize=(4 * len(labels), 3.5), squeeze=False)
    bins = np.linspace(0, 100, 26)
    real_groups = scheme.group_of(evaluation_set.ages)
    for axis, label in zip(axes[0], labels):
        real = evaluation_set.ages if label == "all" else evaluation_set.ages[real_groups == scheme.labels.index(label)]
        axis.hist(real, bins=bins, alpha=0.4, density=True, color="tab:green", label="real test faces")
        axis.hist(predicted[label], bins=bins, alpha=0.6, density=True, color="tab:blue", label="samples (predicted)")
        axis.set_title(f"group {label}" if label != "all" else "all samples")
        axis.set_xlabel("age (years)")
    axes[0][0].legend(fontsize=8)
    figure.suptitle(title)
    return _save(figure, Path(path))


def evaluate_sampler(functions, evaluation_set, scheme, metrics, out_dir, name, count, seed=0, verbose=True):
    """Samples `count` images per group (or in all), measures them (`sampler_summary`) and writes
    `summary.md`, `summary.csv`, `samples.png` and `age_histogram.png` to `out_dir`."""
    from ragan_tf.sampling import sample_grid
    from ragan_tf.visualization import save_png

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if verbose:
        groups = f"{scheme.num_groups} age groups x " if functions.conditional else ""
        print(f"Evaluating {name} (sampler): {groups}{count} samples against {len(evaluation_set)} real test faces")
    samples = draw_samples(functions.sampler, functions.noise_dim, functions.conditional, scheme, count, seed)
    summary, predicted = sampler_summary(samples, functions.conditional, evaluation_set, scheme, metrics.age_estimator)
    summary.to_csv(out_dir / "summary.csv")
    (out_dir / "summary.md").write_text(
        f"# Evaluation: {name} (sampler)\n\nSWD: sliced Wasserstein distance of 7x7 Laplacian-pyramid patches "
        f"(x1e3) against the real test images; lower is closer.\n\n{markdown_table(summary)}\n")
    if predicted:
        save_age_histogram(predicted, evaluation_set, scheme, out_dir / "age_histogram.png", f"{name}: sample ages")

    class _Sampler:  # `sample_grid` speaks the Sampler contract
        noise_dim, conditional, num_age_groups = functions.noise_dim, functions.conditional, scheme.num_groups

        def __call__(self, noise, groups, training=False):
            return functions.sampler(np.asarray(noise), None if groups is None else np.asarray(groups))

    noise = np.random.default_rng(seed + 1).standard_normal((6 if functions.conditional else 36, functions.noise_dim))
    save_png(sample_grid(_Sampler(), noise.astype(np.float32), scheme.labels, title=f"{name}: samples"),
             out_dir / "samples.png")
    return summary


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
        means = [np.nanmean(distances[(gaps >= lo) & (gaps < hi)])
                 if np.any((gaps >= lo) & (gaps < hi) & ~np.isnan(distances)) else np.nan
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
    """Input and every target group for `count` test faces spread over the source ages (uint8 picture)."""
    from ragan_tf.data.age_groups import spread_indices
    from ragan_tf.sampling import aging_grid

    index = spread_indices(evaluation_set.ages, count)  # youngest first
    extra = {"source": evaluation_set.source(index, scheme)} if getattr(aging_function, "takes_source", False) else {}
    return aging_grid(
        lambda images, masks, groups, training=False: aging_function(images, masks, np.asarray(groups), **extra),
        evaluation_set.images[index], evaluation_set.masks[index], scheme.labels,
        source_groups=scheme.group_of(evaluation_set.ages[index]), title=title,
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


def write_report(frame, summary, quality, out_dir, name, sections=()):
    """`rows.csv`, `summary.csv` and `summary.md` in `out_dir`; `sections` are extra
    `(title, DataFrame or text)` parts of `summary.md`."""
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

        lines += ["## Realism per target group (SWD x1e3 of Laplacian-pyramid patches; FID/KID of "
                  "InceptionV3 features when weights were given)", "",
                  markdown_table(pd.DataFrame.from_dict(quality, orient="index"), digits=4), ""]
    for title, body in sections:
        lines += [f"## {title}", "", body if isinstance(body, str) else markdown_table(body), ""]
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
             estimator_identities=300, estimator_epochs=8, embedder_epochs=10, inception=None, verbose=True,
             detector="auto", photo_side=128, sha256=None, precision="float32"):
    """Evaluates a run folder or an export on a test set; writes tables and plots to `out_dir`.

    The model's task contracts decide what is measured: an age transformer
    ages every test face to every group (age, identity, face error against
    the exact truth, background, realism); a sampler draws `count` samples
    (per age group when conditional) and is measured by SWD against the real
    test images and the predicted ages of its samples. A family that does
    both (the encoder + conditional DCGAN) gets both, the sampler's under
    `sampler/`.

    Args:
        model: a `ragan-tf train` run folder or a `ragan-tf export` folder, a `.zip` /
            `.tar.gz` / `.tgz` / `.tar` archive of one, or its `http(s)://` or `file://`
            URL (downloaded and unpacked into a cache once: `ragan_tf.export.model_source`).
        out_dir: where `summary.md`, `summary.csv`, `rows.csv`, plots and the
            example grid go (baselines in `baseline_<name>/`).
        data: a pipeline YAML whose `data` section names the test set, or
            None for the data the model was trained on: the synthetic
            dataset (exact truth, synthetic judges), or a prepared real
            folder's `test` split (`ragan_tf.evaluation.real_faces`: the
            photo age model and dlib's descriptor as judges, with the age
            estimator's own error on the unchanged inputs).
        count: test images (each is transformed to every age group); for a
            sampler also the samples per group.
        baselines: also evaluate `identity` (output = input; age transformers
            only) and/or `untrained` (a freshly initialised network of the
            same family and configuration).
        metrics: a `Metrics`; by default the synthetic metrics are trained
            (synthetic data) or the photo metrics loaded (real data).
        inception: an `InceptionFeatures` for FID/KID, or None to skip them.
        detector, photo_side: real faces: the dlib detector of the photo
            judges, and the side smaller images are enlarged to for them
            (`real_faces.photo_metrics`).
        sha256: the expected SHA-256 of `model` when it is an archive or a URL.
        precision: the model's (and the untrained baseline's) arithmetic: `"float32"`, or
            `"bfloat16"` on a CPU with it in hardware (`ragan_tf.precision`); the
            judges always run in float32.

    Returns:
        `{name: summary DataFrame}` for the model and each baseline (samplers: `<name>/sampler`).
    """
    from ragan_tf.export.model_source import resolve_model
    from ragan_tf.precision import check_precision
    from ragan_tf.models.registry import get_family

    check_precision(precision)
    graph = precision != "float32"  # the bfloat16 rewrite applies to graphs, not to eager calls
    functions, config = load_model_functions(resolve_model(model, sha256=sha256, kind="run or export"), graph)
    data_config = load_config(data).data if data is not None else config.data
    if data_config.image_size != config.data.image_size:
        raise ConfigError(f"the data's image_size {data_config.image_size} differs from the model's "
                          f"{config.data.image_size}.")
    scheme = get_scheme(config.data.age_groups)
    if data_config.dataset == "synthetic":
        evaluation_set = synthetic_test_set(data_config, count)
        metrics = metrics or synthetic_metrics(data_config, estimator_identities, estimator_epochs, embedder_epochs,
                                               inception, verbose)
    else:
        from ragan_tf.evaluation.real_faces import photo_metrics, real_test_set

        evaluation_set = real_test_set(dataclasses.replace(data_config, age_groups=config.data.age_groups), count)
        metrics = metrics or photo_metrics(inception, photo_side, detector)
        if verbose:
            print(f"Real test faces: {len(evaluation_set)} of {data_config.data_dir}, ages "
                  f"{evaluation_set.ages.min():.0f}-{evaluation_set.ages.max():.0f}; photo age model and dlib's "
                  "descriptor as the judges")
    candidates = {"model": functions}
    for baseline in baselines:
        if baseline == "identity":
            if functions.age_transformer is not None:
                candidates["identity"] = ModelFunctions(age_transformer=identity_function)
        elif baseline == "untrained":
            candidates["untrained"] = network_functions(get_family(config.model.type).build_inference_model(config),
                                                        graph)
        else:
            raise ConfigError(f"Unknown baseline {baseline!r}; choose identity or untrained.")
    candidates = {name: functions_in_precision(candidate, precision) for name, candidate in candidates.items()}
    out_dir = Path(out_dir)
    if verbose and precision != "float32":
        print(f"The networks compute in {precision} (--precision); the judges in float32.")
    summaries, costs = {}, {}
    check = _estimator_check(evaluation_set, metrics, scheme, out_dir, verbose)
    for name, candidate in candidates.items():
        folder = out_dir if name == "model" else out_dir / f"baseline_{name}"
        start = time.perf_counter()
        if candidate.age_transformer is not None:
            summaries[name] = _evaluate_transformer(candidate.age_transformer, name, model, folder, evaluation_set,
                                                    scheme, metrics, batch_size, data_config, verbose, check)
        if candidate.sampler is not None:
            sampler_folder = folder / "sampler" if candidate.age_transformer is not None else folder
            summaries[f"{name}/sampler"] = evaluate_sampler(candidate, evaluation_set, scheme, metrics,
                                                            sampler_folder, name, count, verbose=verbose)
        costs[name] = time.perf_counter() - start
    _write_comparison(summaries, out_dir, verbose)
    if verbose:
        print(f"Wrote {out_dir} ({', '.join(f'{name} {seconds:.0f} s' for name, seconds in costs.items())})")
    return summaries


def _estimator_check(evaluation_set, metrics, scheme, out_dir, verbose):
    """Real faces: the age estimator on the unchanged inputs against the labels (`estimator_check.md`);
    `(table, predicted input ages)`, or None for synthetic faces."""
    if not evaluation_set.names or metrics.age_estimator is None:
        return None
    from ragan_tf.evaluation.real_faces import estimator_check

    table, predicted = estimator_check(evaluation_set, metrics.age_estimator, scheme)
    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_dir / "estimator_check.csv")
    text = ("# The age estimator on the unchanged test faces\n\nPredicted against labelled age, per labelled age "
            "band: read every predicted age of the outputs against this bias.\n\n" + markdown_table(table) + "\n")
    (out_dir / "estimator_check.md").write_text(text)
    if verbose:
        print(text)
    return table, predicted


def _real_sections(frame, scheme, evaluation_set, metrics, check, folder):
    """The real-face tables of `summary.md`: the estimator's own error, the outputs' ages by source
    band, identity per age gap, and the images without a found face (also `missed_faces.csv`)."""
    from ragan_tf.evaluation.real_faces import age_gap_table, missed_faces, source_band_table

    sections = [("The age estimator on the unchanged inputs (its own error, per labelled age band)", check[0])]
    if "predicted_age" in frame:
        sections.append(("Mean predicted age of the outputs, per target group (rows) and source age band (columns)",
                         source_band_table(frame, scheme)))
    if "identity_distance" in frame:
        sections.append((f"Identity per age gap (verified: dlib distance < {metrics.identity_embedder.threshold})",
                         age_gap_table(frame, metrics.identity_embedder.threshold)))
    missed = missed_faces(frame, evaluation_set, check[1])
    missed.to_csv(folder / "missed_faces.csv", index=False)
    outputs = missed[missed.what != "input"]
    names = ", ".join(f"`{name}`" for name in sorted(set(missed.name))[:12])
    unmasked = [] if evaluation_set.mask_found is None else [
        name for name, found in zip(evaluation_set.names, evaluation_set.mask_found) if not found]
    sections.append(("Faces the estimators could not find", (
        f"Inputs without a face for the age estimator: {int((missed.what == 'input').sum())} of {len(evaluation_set)}; "
        f"outputs without a face: age estimator {int(outputs.age_estimator.sum())}, identity "
        f"{int(outputs.identity.sum())}, of {len(frame)} (all in `missed_faces.csv`)"
        + (f"; images: {names}" if names else "") + ". "
        + (f"Test chips prepared without a found face (all-ones mask, no background figures): "
           f"{', '.join(f'`{name}`' for name in unmasked)}." if unmasked else "Every test chip had a face mask.")
    )))
    return sections


def _evaluate_transformer(function, name, model, folder, evaluation_set, scheme, metrics, batch_size, data_config,
                          verbose, check=None):
    import pandas as pd

    from ragan_tf.visualization import save_png

    if verbose:
        print(f"Evaluating {name}: {len(evaluation_set)} test faces x {scheme.num_groups} age groups")
    rows, outputs, metric_costs = evaluate_rows(function, evaluation_set, scheme, metrics, batch_size,
                                                data_config.non_face_labels, progress=verbose)
    frame = pd.DataFrame(rows)
    summary = summarize(frame, scheme, getattr(metrics.identity_embedder, "threshold", None))
    quality = _timed(metric_costs, "realism", lambda: image_quality(outputs, evaluation_set, scheme, metrics.inception))
    summary["swd"] = [quality.get(label, {}).get("swd", np.nan) for label in summary.index]
    summary.attrs["seconds_per_100_outputs"] = {key: 100 * seconds / len(frame) for key, seconds in metric_costs.items()}
    folder.mkdir(parents=True, exist_ok=True)
    sections = _real_sections(frame, scheme, evaluation_set, metrics, check, folder) if check else ()
    write_report(frame, summary, quality, folder, f"{name} ({model})", sections)
    save_plots(frame, scheme, folder, name)
    if name != "identity":
        save_png(example_grid(function, evaluation_set, scheme, title=f"{name}: test faces"), folder / "examples.png")
    return summary


def _write_comparison(summaries, out_dir, verbose):
    import pandas as pd

    sections = []
    transformers = {name: summary.loc["overall"] for name, summary in summaries.items() if "/" not in name}
    samplers = {name.split("/")[0]: summary.loc["overall" if "overall" in summary.index else "all"]
                for name, summary in summaries.items() if name.endswith("/sampler")}
    if transformers:
        sections.append("# Overall, model against baselines (transformations to another group)\n\n"
                        + markdown_table(pd.DataFrame(transformers).T))
    if samplers:
        sections.append("# Samples, model against baselines (SWD x1e3 against real test images)\n\n"
                        + markdown_table(pd.DataFrame(samplers).T))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "comparison.md").write_text("\n\n".join(sections) + "\n")
    if verbose:
        print("\n\n".join(sections))
