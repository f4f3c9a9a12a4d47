"""SavedModel export: signatures vs the in-memory generator, real clients, TFLite, model card."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from ragan_tf.cli import main
from ragan_tf.config import ConfigError
from ragan_tf.data.age_groups import age_group_weights, get_scheme
from ragan_tf.export import export_saved_model, load_run
from ragan_tf.export.tflite import check_inputs
from ragan_tf.layers import ConditionalBatchNorm

SCHEME = get_scheme("ffhq_aging")


@pytest.fixture(scope="module")
def served(tiny_export):
    return tf.saved_model.load(str(tiny_export)).signatures


def test_generate_signature_matches_the_in_memory_generator(tiny_run, served):
    _, generator = load_run(tiny_run)
    images, masks, _ = check_inputs(32, count=3)
    ages = SCHEME.anchor_ages[[0, 5, 9]]
    expected = generator(images, masks, ops.one_hot(np.array([0, 5, 9]), 10), training=False)
    got = served["generate"](image=tf.constant(images), face_mask=tf.constant(masks), target_age=tf.constant(ages))
    np.testing.assert_allclose(got["aged_image"].numpy(), np.asarray(expected), atol=1e-5)


def test_uint8_signatures_resize_and_round_like_the_float_core(served):
    images, masks, _ = check_inputs(32, count=2)
    uint8_images = np.round((images + 1) * 127.5).astype(np.uint8)
    core = served["generate"](image=tf.constant(uint8_images / 127.5 - 1.0, tf.float32),
                              face_mask=tf.constant(masks), target_age=tf.constant([30.0, 70.0]))["aged_image"]
    expected = np.round(np.clip((core.numpy() + 1) * 127.5, 0, 255))
    aged = served["with_face_mask"](image=tf.constant(uint8_images), face_mask=tf.constant(masks),
                                    target_age=tf.constant([30, 70]))["aged_image"].numpy()
    assert aged.dtype == np.uint8
    assert np.max(np.abs(aged.astype(np.float32) - expected)) <= 1.0
    # any input size comes back at that size
    big = served["serving_default"](image=tf.zeros((1, 50, 70, 3), tf.uint8), target_age=tf.constant([40]))
    assert big["aged_image"].shape == (1, 50, 70, 3)


def test_age_progression_returns_every_group_in_one_call(served):
    images, _, _ = check_inputs(32, count=1)
    image = np.round((images[0] + 1) * 127.5).astype(np.uint8)
    result = served["age_progression"](image=tf.constant(image))
    assert result["aged_images"].shape == (10, 32, 32, 3)
    assert [label.decode() for label in result["age_groups"].numpy()] == SCHEME.labels
    np.testing.assert_allclose(result["anchor_ages"].numpy(), SCHEME.anchor_ages)
    one = served["serving_default"](image=tf.constant(image[None]), target_age=tf.constant([80]))["aged_image"]
    np.testing.assert_array_equal(result["aged_images"].numpy()[9], one.numpy()[0])  # 80 is group 9's anchor
    assert len({result["aged_images"].numpy()[index].tobytes() for index in range(10)}) == 10


def test_continuous_age_is_monotone_between_two_anchors_and_halfway_is_halfway():
    low, high = SCHEME.anchor_ages[5], SCHEME.anchor_ages[6]  # 24.5 and 34.5
    ages = np.linspace(low, high, 11)
    weights = np.asarray(age_group_weights(ages, SCHEME.anchor_ages))
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-6)
    assert np.all(np.diff(weights[:, 6]) > 0) and np.all(np.diff(weights[:, 5]) < 0)
    np.testing.assert_allclose(weights[5, 5:7], [0.5, 0.5], atol=1e-6)
    np.testing.assert_allclose(weights[0], np.eye(10)[5], atol=1e-6)
    np.testing.assert_allclose(np.asarray(age_group_weights(np.array([-5.0, 200.0]), SCHEME.anchor_ages)),
                               np.eye(10)[[0, 9]], atol=1e-6)
    # the conditioning (CBN scale and offset) at the halfway age is the mean of the two groups'
    cbn = ConditionalBatchNorm(10)
    features = np.random.default_rng(1).normal(size=(1, 4, 4, 8)).astype(np.float32)
    cbn(features, np.eye(10, dtype=np.float32)[:1])
    cbn.gamma_table.assign(np.random.default_rng(2).normal(size=(10, 8)))
    cbn.beta_table.assign(np.random.default_rng(3).normal(size=(10, 8)))
    at = [np.asarray(cbn(features, weights[index : index + 1], training=False)) for index in (0, 5, 10)]
    np.testing.assert_allclose(at[1], (at[0] + at[2]) / 2, atol=1e-5)


def test_tflite_matches_the_saved_model(tiny_export):
    card = json.loads((tiny_export / "signature.json").read_text())
    assert (tiny_export / "model.tflite").stat().st_size > 0
    assert card["checks"]["tflite_max_abs_difference"] < 1e-3


def test_model_card_records_what_a_client_needs(tiny_export):
    card = json.loads((tiny_export / "signature.json").read_text())
    assert card["image_size"] == 32 and card["alignment"] == "synthetic"
    assert [group["label"] for group in card["age_groups"]] == SCHEME.labels
    assert card["age_groups"][9]["anchor_age"] == 80.0
    assert card["training"]["epochs_completed"] == 2
    assert card["training"]["final_epoch_metrics"] == {"g_loss": 2.0, "val_rec": 0.15}
    assert set(card["signatures"]) == {"serving_default", "with_face_mask", "age_sweep", "age_progression", "generate"}
    assert any("cartoon" in line for line in card["limitations"])
    assert "## Limitations and bias" in (tiny_export / "MODEL_CARD.md").read_text()


def _cli(*args):
    script = Path(sys.executable).with_name("saved_model_cli")
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=300)


def test_saved_model_cli_shows_and_runs_the_export(tiny_export, tmp_path):
    shown = _cli("show", "--dir", str(tiny_export), "--tag_set", "serve", "--signature_def", "serving_default")
    assert shown.returncode == 0, shown.stderr
    assert "DT_UINT8" in shown.stdout and "target_age" in shown.stdout and "aged_image" in shown.stdout
    np.save(tmp_path / "image.npy", np.full((1, 40, 48, 3), 128, np.uint8))
    np.save(tmp_path / "age.npy", np.array([65], np.int32))
    ran = _cli(
        "run", "--dir", str(tiny_export), "--tag_set", "serve", "--signature_def", "serving_default",
        "--inputs", f"image={tmp_path / 'image.npy'};target_age={tmp_path / 'age.npy'}", "--outdir", str(tmp_path),
    )
    assert ran.returncode == 0, ran.stderr
    aged = np.load(tmp_path / "aged_image.npy")
    assert aged.shape == (1, 40, 48, 3) and aged.dtype == np.uint8


def test_export_errors_are_clear_and_leave_nothing(tiny_run, tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="no such run folder"):
        export_saved_model(tmp_path / "missing", tmp_path / "out", verbose=False)
    existing = tmp_path / "exists"
    existing.mkdir()
    with pytest.raises(ConfigError, match="--overwrite"):
        export_saved_model(tiny_run, existing, verbose=False)

    def broken_card(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("ragan_tf.export.saved_model.write_model_card", broken_card)
    with pytest.raises(RuntimeError, match="disk full"):
        export_saved_model(tiny_run, tmp_path / "out", verbose=False)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["exists"]


def test_export_command(tiny_run, tmp_path, capsys):
    assert main(["export", str(tiny_run), "--out", str(tmp_path / "model")]) == 0
    assert "serving_default" in capsys.readouterr().out
    assert (tmp_path / "model" / "saved_model.pb").is_file()
    assert main(["export", str(tmp_path / "nope"), "--out", str(tmp_path / "m2")]) == 2
    assert "no such run folder" in capsys.readouterr().err
