"""Encode once, render every age (issue 18): `age_sweep` on the networks, the `age_sweep`
signature, and the `Ager` and evaluation paths that use it, each against the one-age path.

Tolerances: a sweep renders the same rows as the one-age path in a different batch, so the
convolution kernels may sum the same products in another order. The float outputs are tanh
values in [-1, 1]; a reordered float32 sum of n products differs by at most about n * 2**-24
times the sum of their magnitudes, about 1e-5 for the tiny models' largest sums (9 * 64
terms of magnitude below 1), and the few layers compound it: 1e-4 is that bound with room,
and far below what one age group changes (> 1e-2, asserted). uint8 outputs may then differ
by one level where a value lies near a rounding boundary.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from ragan_tf.data.age_groups import get_scheme
from ragan_tf.evaluation.evaluate import evaluate_rows, network_functions
from ragan_tf.export import load_run
from ragan_tf.export.tflite import check_inputs
from ragan_tf.models.ragan.generator import Generator
from ragan_tf.models.tasks import AgeTransformer, tile_ages

SCHEME = get_scheme("ffhq_aging")
FLOAT_TOLERANCE = 1e-4


def randomised_generator(seed=0, **options):
    """A tiny generator whose every weight is perturbed, so that every age group and every
    part of the network changes the output."""
    generator = Generator(image_size=32, num_age_groups=10, base_channels=8, max_channels=16,
                          encoder_residual_blocks=1, modulator_downsamples=2, age_code_dim=16,
                          decoder_blocks=1, **options)
    rng = np.random.default_rng(seed)
    for variable in generator.trainable_weights:
        variable.assign(variable.numpy() + rng.normal(0, 0.2, variable.shape).astype(np.float32))
    return generator


@pytest.mark.parametrize("options", [{}, {"decoder_skips": True}, {"paste_background": True}],
                         ids=["paper", "skips", "pasted"])
def test_ragan_sweep_equals_the_generator_on_repeated_faces(options):
    generator = randomised_generator(**options)
    images, masks, _ = check_inputs(32, count=3)
    groups = np.array([0, 4, 9, 2], np.int32)
    swept = np.asarray(generator.age_sweep(images, masks, groups))
    assert swept.shape == (3, 4, 32, 32, 3)
    for face in range(3):
        one = np.asarray(generator(np.repeat(images[face:face + 1], 4, 0), np.repeat(masks[face:face + 1], 4, 0),
                                   groups, training=False))
        np.testing.assert_allclose(swept[face], one, atol=FLOAT_TOLERANCE)
    assert np.abs(swept[:, 0] - swept[:, 2]).max() > 1e-2  # the ages differ, so the check above can fail


def test_ragan_sweep_takes_age_group_weights():
    generator = randomised_generator(1)
    images, masks, _ = check_inputs(32, count=2)
    weights = np.eye(10, dtype=np.float32)[[3, 7]] * 0.5 + np.eye(10, dtype=np.float32)[[4, 8]] * 0.5
    swept = np.asarray(generator.age_sweep(images, masks, weights))
    one = np.asarray(generator(np.repeat(images[1:], 2, 0), np.repeat(masks[1:], 2, 0), weights, training=False))
    np.testing.assert_allclose(swept[1], one, atol=FLOAT_TOLERANCE)


class AgeTimesImage(AgeTransformer, keras.Model):
    """A toy age transformer: the image scaled by 1 + the expected group index, plus the mask."""

    image_size, num_age_groups = 8, 5

    def call(self, image, face_mask, target_age, training=None):
        weights = ops.one_hot(target_age, 5) if "int" in str(target_age.dtype) else target_age
        scale = 1.0 + ops.sum(weights * ops.arange(5, dtype="float32"), axis=-1)
        return image * scale[:, None, None, None] + face_mask


def test_the_default_sweep_pairs_every_face_with_every_age_in_order():
    images = np.random.default_rng(0).normal(size=(3, 8, 8, 3)).astype(np.float32)
    masks = np.random.default_rng(1).uniform(size=(3, 8, 8, 1)).astype(np.float32)
    swept = np.asarray(AgeTimesImage().age_sweep(images, masks, np.array([0, 2, 4], np.int32)))
    expected = np.stack([np.stack([images[f] * (1 + g) + masks[f] for g in (0, 2, 4)]) for f in range(3)])
    np.testing.assert_allclose(swept, expected, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(tile_ages(np.array([1, 2]), 3)), [1, 2, 1, 2, 1, 2])


def test_age_sweep_signature_equals_one_age_per_row(tiny_export):
    served = tf.saved_model.load(str(tiny_export)).signatures
    images, masks, _ = check_inputs(32, count=1)
    image = np.round((images[0] + 1) * 127.5).astype(np.uint8)
    mask = np.asarray(masks[0], np.float32)
    ages = np.array([5, 30, 80], np.int32)
    swept = served["age_sweep"](image=tf.constant(image), face_mask=tf.constant(mask),
                                target_age=tf.constant(ages))["aged_images"].numpy()
    rows = served["with_face_mask"](image=tf.constant(np.repeat(image[None], 3, 0)),
                                    face_mask=tf.constant(np.repeat(mask[None], 3, 0)),
                                    target_age=tf.constant(ages))["aged_image"].numpy()
    assert swept.shape == (3, 32, 32, 3) and swept.dtype == np.uint8
    assert np.abs(swept.astype(int) - rows.astype(int)).max() <= 1
    assert np.abs(swept[0].astype(int) - swept[2].astype(int)).max() > 1


@pytest.mark.parametrize("bad, message", [
    (dict(target_age=np.zeros(0, np.int32)), "at least one age"),
    (dict(target_age=np.array([30, 130], np.int32)), "target_age must be finite ages within 0-120"),
    (dict(face_mask=np.ones((16, 32, 1), np.float32)), "face_mask must be"),
], ids=["no ages", "age out of range", "mask of another size"])
def test_age_sweep_signature_refuses_bad_input_naming_it(tiny_export, bad, message):
    served = tf.saved_model.load(str(tiny_export)).signatures
    inputs = dict(image=np.zeros((32, 32, 3), np.uint8), face_mask=np.ones((32, 32, 1), np.float32),
                  target_age=np.array([30], np.int32))
    inputs.update(bad)
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        served["age_sweep"](**{name: tf.constant(value) for name, value in inputs.items()})


def test_evaluation_rows_are_the_same_with_and_without_the_sweep(tiny_run):
    from ragan_tf.evaluation.evaluate import synthetic_test_set
    from ragan_tf.config import load_config

    config = load_config(tiny_run / "config.yaml")
    _, generator = load_run(tiny_run)
    evaluation_set = synthetic_test_set(config.data, 4)
    function = network_functions(generator).age_transformer
    assert function.sweep is not None

    def one_age(images, masks, groups):
        return function(images, masks, groups)

    metrics = type("NoMetrics", (), {"identity_embedder": None, "age_estimator": None, "exact_truth": False})()
    swept_rows, swept_outputs, _ = evaluate_rows(function, evaluation_set, SCHEME, metrics, batch_size=3,
                                                 progress=False)
    rows, outputs, _ = evaluate_rows(one_age, evaluation_set, SCHEME, metrics, batch_size=3, progress=False)
    assert len(swept_rows) == len(rows) == 4 * 10
    for group in range(10):
        assert np.abs(swept_outputs[group].astype(int) - outputs[group].astype(int)).max() <= 1
    key = [(row["image"], row["target_group"]) for row in rows]
    assert [(row["image"], row["target_group"]) for row in swept_rows] == key
    np.testing.assert_allclose([row["input_l1"] for row in swept_rows], [row["input_l1"] for row in rows], atol=1.0)  # uint8 levels: at most 1 apart
