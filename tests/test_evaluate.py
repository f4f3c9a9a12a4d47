"""`ragan-tf evaluate`: rows, summaries, plots, baselines, the training callback."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ragan_tf.config import load_config
from ragan_tf.data import synthetic_faces
from ragan_tf.data.age_groups import get_scheme
from ragan_tf.evaluation.callback import EvaluationCallback
from ragan_tf.evaluation.evaluate import (
    PSNR_CAP,
    Metrics,
    evaluate,
    evaluate_rows,
    identity_function,
    markdown_table,
    summarize,
    synthetic_test_set,
)

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"
TINY = load_config(PIPELINES / "ragan_synthetic_tiny.yaml").data
SCHEME = get_scheme("ffhq_aging")


class SourceAgeEstimator:
    """Predicts each image's true source age (looked up by pixels): an identity-like estimator."""

    def __init__(self, evaluation_set):
        self.ages = {np.round((image + 1) * 127.5).astype(np.uint8).tobytes(): age
                     for image, age in zip(evaluation_set.images, evaluation_set.ages)}

    def predict_ages(self, images):
        return np.array([self.ages.get(np.asarray(image).tobytes(), np.nan) for image in images])


class MeanColourEmbedder:
    threshold = 5.0

    def embed(self, images, masks):
        return np.asarray(images, np.float64).mean(axis=(1, 2))

    def distance(self, a, b):
        return np.linalg.norm(np.asarray(a) - np.asarray(b), axis=-1)


@pytest.fixture(scope="module")
def test_set():
    return synthetic_test_set(TINY, 6)


def oracle(test_set):
    """Returns the exact render of each identity at the target group's anchor age."""
    lookup = {tuple(np.round(image, 4).ravel()[:64]): identity for image, identity in zip(test_set.images, test_set.identities)}

    def function(images, masks, groups):
        identities = [lookup[tuple(np.round(image, 4).ravel()[:64])] for image in images]
        return np.stack([synthetic_faces.render(int(i), float(SCHEME.anchor_ages[g]), TINY.image_size, test_set.seed).image
                         for i, g in zip(identities, groups)]).astype(np.float32) / 127.5 - 1.0

    return function


def test_test_set_is_the_unseen_split(test_set):
    train_ids, test_ids = synthetic_faces.split_identities(
        TINY.synthetic_identities, TINY.synthetic_test_fraction, TINY.synthetic_seed)
    assert set(test_set.identities) <= set(test_ids) and not set(test_set.identities) & set(train_ids)
    assert test_set.images.shape == (6, 32, 32, 3) and test_set.masks.shape == (6, 32, 32, 1)


def test_exact_ground_truth_scores_zero_and_identity_keeps_the_background(test_set):
    rows, outputs, costs = evaluate_rows(oracle(test_set), test_set, SCHEME, Metrics(), progress=False)
    frame = pd.DataFrame(rows)
    assert len(frame) == 6 * 10 and outputs[3].shape == (6, 32, 32, 3)
    assert {"generator", "background_psnr", "background_ssim", "exact_truth"} <= set(costs)
    np.testing.assert_allclose(frame.face_l1_vs_truth, 0.0, atol=1e-9)
    rows, _, _ = evaluate_rows(identity_function, test_set, SCHEME, Metrics(), progress=False)
    frame = pd.DataFrame(rows)
    assert np.all(np.isinf(frame.background_psnr)) and np.allclose(frame.background_ssim, 1.0)
    assert np.all(frame.input_l1 == 0)
    # identity output differs from the truth wherever the target is not the source age
    assert frame[frame.target_group != frame.source_group].face_l1_vs_truth.min() > 0


def test_summary_per_group_and_overall_by_hand(test_set):
    metrics = Metrics(age_estimator=SourceAgeEstimator(test_set), identity_embedder=MeanColourEmbedder())
    rows, _, _ = evaluate_rows(identity_function, test_set, SCHEME, metrics, progress=False)
    frame = pd.DataFrame(rows)
    summary = summarize(frame, SCHEME, identity_threshold=MeanColourEmbedder.threshold)
    transformed = frame[frame.target_group != frame.source_group]
    assert summary.loc["overall", "outputs"] == len(transformed)
    # the estimator returns the source age, so no output is "in" another group
    assert summary.loc["overall", "age_in_group_share"] == 0.0
    anchors = SCHEME.anchor_ages[transformed.target_group.to_numpy()]
    assert summary.loc["overall", "age_mae_to_anchor"] == pytest.approx(
        np.mean(np.abs(transformed.source_age.to_numpy() - anchors)), rel=1e-6)
    assert summary.loc["overall", "identity_distance"] == 0.0 and summary.loc["overall", "identity_verified"] == 1.0
    assert summary.loc["overall", "background_psnr_db"] == PSNR_CAP
    group_rows = transformed[transformed.target_group == 9]
    assert summary.loc["70-120", "outputs"] == len(group_rows)
    assert summary.attrs["reconstruction_l1"] == 0.0 and summary.attrs["reconstruction_psnr_db"] == PSNR_CAP


def test_markdown_table_layout():
    table = markdown_table(pd.DataFrame({"a": [1.23456, np.nan], "b": ["x", "y"]}, index=["r1", "r2"]), digits=2)
    assert table.splitlines() == ["|  | a | b |", "| --- | --- | --- |", "| r1 | 1.23 | x |", "| r2 | n/a | y |"]


def test_evaluate_writes_tables_plots_and_baselines(tiny_run, tmp_path, test_set):
    metrics = Metrics(age_estimator=SourceAgeEstimator(test_set), identity_embedder=MeanColourEmbedder())
    summaries = evaluate(tiny_run, tmp_path, count=6, baselines=("identity", "untrained"), metrics=metrics,
                         verbose=False)
    assert set(summaries) == {"model", "identity", "untrained"}
    for name in ("summary.md", "summary.csv", "rows.csv", "age_boxplot.png", "identity_vs_gap.png", "examples.png",
                 "comparison.md", "baseline_identity/summary.md", "baseline_untrained/examples.png"):
        assert (tmp_path / name).is_file(), name
    assert "| overall |" in (tmp_path / "summary.md").read_text()
    assert "seconds per 100 outputs" in (tmp_path / "summary.md").read_text()
    comparison = (tmp_path / "comparison.md").read_text()
    assert "| model |" in comparison and "| identity |" in comparison
    rows = pd.read_csv(tmp_path / "rows.csv")
    assert len(rows) == 60 and {"predicted_age", "identity_distance", "face_l1_vs_truth"} <= set(rows.columns)


def test_evaluate_accepts_an_export(tiny_export, tmp_path, test_set):
    summaries = evaluate(tiny_export, tmp_path, count=6, baselines=(), metrics=Metrics(), verbose=False)
    assert np.isfinite(summaries["model"].loc["overall", "face_l1_vs_truth"])


def test_evaluation_callback_writes_tensorboard_scalars(tiny_run, tmp_path, test_set):
    from ragan_tf.export.saved_model import load_run

    _, generator = load_run(tiny_run)

    class Holder:
        inference_model = generator

    callback = EvaluationCallback(test_set, SCHEME, tmp_path, every_epochs=2)
    callback.set_model(Holder())
    callback.on_epoch_end(0)
    assert callback.history == []
    callback.on_epoch_end(1)
    (epoch, values), = callback.history
    assert epoch == 1 and {"face_l1_vs_truth", "background_psnr_db", "reconstruction_l1"} <= set(values)
    assert list((tmp_path / "eval").glob("events.out.tfevents.*"))


def test_evaluation_callback_reports_identity_kept_at_the_embedders_threshold(tmp_path, test_set):
    # The identity function keeps every face: identity kept must be 1 under any positive threshold.
    metrics = Metrics(age_estimator=SourceAgeEstimator(test_set), identity_embedder=MeanColourEmbedder())

    from ragan_tf.models.tasks import AgeTransformer

    class IdentityTransformer(AgeTransformer):
        def __call__(self, image, face_mask, target_age, training=False):
            return image

    class Holder:
        inference_model = IdentityTransformer()

    callback = EvaluationCallback(test_set, SCHEME, tmp_path, every_epochs=1, metrics=metrics)
    callback.set_model(Holder())
    values = callback.evaluate_now()
    assert values["identity_verified"] == 1.0 and values["identity_distance"] == 0.0
    assert values["age_in_group_share"] == 0.0


def test_evaluation_callback_measures_a_sampler_by_swd(tmp_path, test_set):
    from ragan_tf.config import load_config
    from ragan_tf.models.registry import get_family

    config = load_config(PIPELINES / "dcgan_synthetic_tiny.yaml")

    class Holder:
        inference_model = get_family("dcgan").build_inference_model(config)

    callback = EvaluationCallback(test_set, get_scheme("unconditional"), tmp_path, every_epochs=1)
    callback.set_model(Holder())
    callback.on_epoch_end(0)
    (_, values), = callback.history
    assert set(values) == {"swd"} and values["swd"] > 0
