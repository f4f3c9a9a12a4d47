"""The analytic train-step FLOP count behind `benchmarks/train_throughput.py`'s model FLOP utilisation."""

import keras
import pytest
import tensorflow as tf

import model_family_test_base as base
from ragan_tf.training.model_flops import counting_flops, layer_forward_flops, train_step_flops
from test_model_families import CASES


def test_each_layer_counts_two_flops_per_multiply_add_of_its_shapes():
    x = tf.random.normal((2, 16, 16, 6))
    conv = keras.layers.Conv2D(8, 3, padding="same")
    strided = keras.layers.Conv2D(4, 4, strides=2, padding="same", groups=2)
    transposed = keras.layers.Conv2DTranspose(5, 4, strides=2, padding="same")
    dense = keras.layers.Dense(7)
    with counting_flops() as count:
        conv(x)
        strided(x)
        transposed(x)
        dense(x)
    expected = (2 * 2 * 16 * 16 * 8 * 6 * 9  # every output position: 3x3 window of 6 channels
                + 2 * 2 * 8 * 8 * 4 * 3 * 16  # 8x8 outputs, 2 groups of 3 input channels each
                + 2 * 2 * 16 * 16 * 6 * 16 * 5  # every input position scatters a 4x4x5 window
                + 2 * 2 * 16 * 16 * 6 * 7)
    assert count.forward == expected
    assert count.backward == 0  # no tape records these calls
    assert count.calls == {"Conv2D": 2, "Conv2DTranspose": 1, "Dense": 1}
    assert layer_forward_flops(dense, x, dense(x)) == 2 * 2 * 16 * 16 * 6 * 7


def test_a_call_a_tape_records_adds_a_backward_pass_of_twice_its_forward_and_the_layers_are_restored():
    dense = keras.layers.Dense(3)
    x = tf.ones((4, 5))
    originals = keras.layers.Dense.call, keras.layers.Conv2D.call, keras.layers.Conv2DTranspose.call
    with counting_flops() as count:
        with tf.GradientTape():
            dense(x)
        dense(x)
    assert count.forward == 2 * (2 * 4 * 5 * 3)
    assert count.backward == 2 * (2 * 4 * 5 * 3)  # the recorded call only
    assert (keras.layers.Dense.call, keras.layers.Conv2D.call, keras.layers.Conv2DTranspose.call) == originals
    assert "call" not in vars(keras.layers.Conv2D)  # inherited from BaseConv again


def one_batch(case):
    config, model = base.build(case)
    batch = next(iter(base.random_batches(config, base.BATCH, case.fixed_randomness)))
    return config, model, batch


def forward(call):
    with counting_flops() as count:
        call()
    assert count.backward == 0
    return count.forward


def test_a_ragan_step_counts_four_generator_and_three_discriminator_passes_three_of_each_differentiated():
    config, model, batch = one_batch(CASES["ragan"])
    images, masks, groups, targets = model._unpack(batch)
    generator = forward(lambda: model.generator(images, masks, targets, training=True))
    discriminator = forward(lambda: model._discriminate(images, groups, training=True))
    count = train_step_flops(model, batch)
    # D update: G(x, y') detached (forward only), D on real and on fake (both differentiated);
    # G update: G three times (aged, reconstructed, cycled) and D on the aged faces, all differentiated.
    assert count.forward == 4 * generator + 3 * discriminator
    assert count.total == (1 + 3 * 3) * generator + 3 * 3 * discriminator


def test_a_gan_step_counts_the_detached_sample_once_and_every_differentiated_pass_three_times():
    config, model, batch = one_batch(CASES["dcgan"])
    images, groups, noise = model._unpack(batch)
    generator = forward(lambda: model.generator(noise, groups, training=True))
    discriminator = forward(lambda: model.discriminator(images, groups, training=True))
    count = train_step_flops(model, batch)
    assert count.total == (1 + 3) * generator + 3 * 3 * discriminator


@pytest.mark.parametrize("family", ["vanilla_gan", "encoder_cdcgan", "cvae", "age_cgan"])
def test_every_family_step_has_counted_work_and_a_backward_pass(family):
    _, model, batch = one_batch(CASES[family])
    count = train_step_flops(model, batch)
    assert count.forward > 0 and count.backward > 0
    assert count.backward <= 2 * count.forward
