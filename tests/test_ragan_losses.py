"""The RAGAN objective against hand-computed values."""

import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from ragan_tf.models.ragan import losses


def softplus(x):
    return np.log1p(np.exp(x))


REAL_LOGITS = np.array([2.0, -1.0, 0.0], dtype="float32")
FAKE_LOGITS = np.array([-3.0, 0.5, 1.0], dtype="float32")


def test_adversarial_terms_are_per_example_softplus():
    np.testing.assert_allclose(losses.real_adversarial_loss(REAL_LOGITS), softplus(-REAL_LOGITS), rtol=1e-6)
    np.testing.assert_allclose(losses.fake_adversarial_loss(FAKE_LOGITS), softplus(FAKE_LOGITS), rtol=1e-6)
    np.testing.assert_allclose(losses.generator_adversarial_loss(FAKE_LOGITS), softplus(-FAKE_LOGITS), rtol=1e-6)
    # log(1 + e^0) = log 2 for a logit of 0
    assert float(losses.real_adversarial_loss(REAL_LOGITS)[2]) == pytest.approx(np.log(2.0))


def test_l1_loss_is_the_mean_absolute_difference_of_each_example():
    images = np.zeros((2, 2, 2, 3), "float32")
    reference = np.zeros((2, 2, 2, 3), "float32")
    reference[0, 0, 0, 0] = 1.2  # example 0: one pixel channel off by 1.2 out of 12 values
    reference[1] = -0.5  # example 1: every value off by 0.5
    np.testing.assert_allclose(losses.l1_loss(images, reference), [0.1, 0.5], rtol=1e-6)


def test_r1_penalty_is_the_squared_gradient_norm_of_each_example():
    gradients = np.zeros((2, 1, 2, 1), "float32")
    gradients[0, 0] = [[3.0], [4.0]]
    gradients[1, 0] = [[1.0], [-2.0]]
    np.testing.assert_allclose(losses.r1_penalty(gradients), [25.0, 5.0], rtol=1e-6)


def _r1_of(discriminator, images):
    images = tf.constant(images)
    with tf.GradientTape() as tape:
        tape.watch(images)
        logit_sum = ops.sum(discriminator(images))
    return losses.r1_penalty(tape.gradient(logit_sum, images))


def test_r1_of_a_linear_discriminator_is_its_squared_weight_norm():
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(1, 4, 4, 3)).astype("float32")
    images = rng.normal(size=(3, 4, 4, 3)).astype("float32")
    r1 = _r1_of(lambda x: ops.sum(weights * x, axis=(1, 2, 3)), images)
    np.testing.assert_allclose(r1, [np.sum(weights**2)] * 3, rtol=1e-5)


def test_r1_of_a_quadratic_discriminator_is_four_times_the_squared_image_norm():
    # D(x) = ||x||^2 has gradient 2x, so R1 = 4 ||x||^2, different for each example.
    images = np.random.default_rng(1).normal(size=(3, 4, 4, 3)).astype("float32")
    r1 = _r1_of(lambda x: ops.sum(x * x, axis=(1, 2, 3)), images)
    np.testing.assert_allclose(r1, 4.0 * np.sum(images**2, axis=(1, 2, 3)), rtol=1e-5)


def test_discriminator_loss_adds_half_gamma_r1():
    r1 = np.array([1.0, 4.0, 0.0], "float32")
    per_example, terms = losses.compute_discriminator_loss(REAL_LOGITS, FAKE_LOGITS, r1, r1_gamma=10.0)
    adversarial = softplus(-REAL_LOGITS) + softplus(FAKE_LOGITS)
    np.testing.assert_allclose(per_example, adversarial + 5.0 * r1, rtol=1e-6)
    assert set(terms) == {"d_adv", "r1"}
    assert float(terms["d_adv"]) == pytest.approx(adversarial.mean(), rel=1e-6)
    assert float(terms["r1"]) == pytest.approx(r1.mean())


def test_generator_loss_weights_its_three_terms():
    images = np.zeros((3, 2, 2, 3), "float32")
    reconstructed = np.full((3, 2, 2, 3), 0.25, "float32")
    cycled = np.full((3, 2, 2, 3), -1.0, "float32")
    cycled[2] = 0.0
    per_example, terms = losses.compute_generator_loss(
        FAKE_LOGITS, images, reconstructed, cycled, lambda_adv=2.0, lambda_rec=10.0, lambda_cyc=3.0
    )
    adversarial = softplus(-FAKE_LOGITS)
    cycle = np.array([1.0, 1.0, 0.0])
    np.testing.assert_allclose(per_example, 2.0 * adversarial + 10.0 * 0.25 + 3.0 * cycle, rtol=1e-6)
    assert set(terms) == {"g_adv", "rec", "cyc"}
    assert float(terms["g_adv"]) == pytest.approx(adversarial.mean(), rel=1e-6)
    assert float(terms["rec"]) == pytest.approx(0.25)
    assert float(terms["cyc"]) == pytest.approx(2.0 / 3.0)


def test_losses_are_float32_for_float16_inputs():
    per_example, _ = losses.compute_generator_loss(
        FAKE_LOGITS.astype("float16"),
        np.zeros((3, 2, 2, 3), "float16"),
        np.ones((3, 2, 2, 3), "float16"),
        np.ones((3, 2, 2, 3), "float16"),
    )
    assert per_example.dtype == "float32"
