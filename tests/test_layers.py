"""Shared building blocks: shapes, configs and exact math against numpy references."""

import math

import keras
import numpy as np
import pytest
from keras import ops

from ragan_tf.layers import (
    AdaIN,
    AdaINResidualBlock,
    CBNResidualBlock,
    ConditionalBatchNorm,
    ResidualBlock,
    instance_normalization,
    make_normalization,
)

EPSILON = 1e-5
RNG = np.random.default_rng(0)
FEATURES = RNG.normal(size=(4, 8, 8, 6)).astype("float32") * 2.0 + 0.5
STYLE = RNG.normal(size=(4, 5)).astype("float32")


def numpy_instance_norm(x):
    mean = x.mean(axis=(1, 2), keepdims=True)
    variance = x.var(axis=(1, 2), keepdims=True)
    return (x - mean) / np.sqrt(variance + EPSILON)


def numpy_batch_norm(x):
    mean = x.mean(axis=(0, 1, 2), keepdims=True)
    variance = x.var(axis=(0, 1, 2), keepdims=True)
    return (x - mean) / np.sqrt(variance + EPSILON)


def randomize(variable, scale=0.5):
    variable.assign(RNG.normal(size=variable.shape).astype("float32") * scale)


def assert_config_round_trip(layer):
    clone = layer.__class__.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    return clone


def test_instance_normalization_matches_numpy():
    layer = instance_normalization()
    layer.build(FEATURES.shape)
    randomize(layer.gamma)
    randomize(layer.beta)
    expected = numpy_instance_norm(FEATURES) * layer.gamma.numpy() + layer.beta.numpy()
    np.testing.assert_allclose(layer(FEATURES), expected, atol=1e-5)


def test_make_normalization_kinds():
    assert isinstance(make_normalization("instance"), keras.layers.GroupNormalization)
    assert isinstance(make_normalization("batch"), keras.layers.BatchNormalization)
    np.testing.assert_array_equal(make_normalization("none")(FEATURES), FEATURES)
    with pytest.raises(ValueError, match="instance"):
        make_normalization("layer")


def test_adain_matches_numpy():
    layer = AdaIN()
    output = layer(FEATURES, STYLE)
    assert output.shape == FEATURES.shape
    kernel, bias = (w.numpy() for w in layer.style_projection.weights)
    projection = STYLE @ kernel + bias
    gamma, beta = projection[:, None, None, :6], projection[:, None, None, 6:]
    expected = (1.0 + gamma) * numpy_instance_norm(FEATURES) + beta
    np.testing.assert_allclose(output, expected, atol=1e-4)
    clone = assert_config_round_trip(layer)
    assert clone(FEATURES, STYLE).shape == FEATURES.shape


def cbn_with_random_tables(num_classes=3):
    layer = ConditionalBatchNorm(num_classes)
    layer.build(FEATURES.shape)
    randomize(layer.gamma_table)
    randomize(layer.beta_table)
    return layer


def test_conditional_batch_norm_matches_numpy_for_class_ids():
    layer = cbn_with_random_tables()
    class_ids = np.array([0, 2, 1, 2], dtype="int32")
    output = layer(FEATURES, class_ids, training=True)
    gamma = layer.gamma_table.numpy()[class_ids][:, None, None, :]
    beta = layer.beta_table.numpy()[class_ids][:, None, None, :]
    np.testing.assert_allclose(output, gamma * numpy_batch_norm(FEATURES) + beta, atol=1e-4)
    assert layer.compute_output_shape(FEATURES.shape, class_ids.shape) == FEATURES.shape


def test_conditional_batch_norm_one_hot_weights_equal_class_ids():
    layer = cbn_with_random_tables()
    class_ids = np.array([0, 2, 1, 2], dtype="int32")
    one_hot = np.eye(3, dtype="float32")[class_ids]
    np.testing.assert_allclose(
        layer(FEATURES, one_hot, training=True), layer(FEATURES, class_ids, training=True), atol=1e-6
    )


def test_conditional_batch_norm_classes_differ_and_weights_interpolate():
    layer = cbn_with_random_tables()
    zeros, ones = np.zeros(4, "int32"), np.ones(4, "int32")
    first = ops.convert_to_numpy(layer(FEATURES, zeros, training=True))
    second = ops.convert_to_numpy(layer(FEATURES, ones, training=True))
    assert np.abs(first - second).max() > 0.1
    halfway = np.tile(np.array([[0.5, 0.5, 0.0]], "float32"), (4, 1))
    mixed = layer(FEATURES, halfway, training=True)
    np.testing.assert_allclose(mixed, (first + second) / 2, atol=1e-5)
    gamma = layer.gamma_table.numpy()[:2].mean(axis=0)
    beta = layer.beta_table.numpy()[:2].mean(axis=0)
    np.testing.assert_allclose(mixed, gamma * numpy_batch_norm(FEATURES) + beta, atol=1e-4)


def test_conditional_batch_norm_starts_as_plain_batch_norm_and_round_trips():
    layer = ConditionalBatchNorm(3, momentum=0.9, synchronized=True)
    np.testing.assert_allclose(
        layer(FEATURES, np.array([0, 1, 2, 0], "int32"), training=True), numpy_batch_norm(FEATURES), atol=1e-4
    )
    clone = assert_config_round_trip(layer)
    assert (clone.num_classes, clone.momentum, clone.synchronized) == (3, 0.9, True)


@pytest.mark.parametrize("norm", ["instance", "batch", "none"])
@pytest.mark.parametrize("resample, filters, size", [("none", 6, 8), ("down", 12, 4), ("up", 3, 16)])
def test_residual_block_shapes_and_config(norm, resample, filters, size):
    block = ResidualBlock(filters, norm=norm, resample=resample)
    output = block(FEATURES, training=True)
    assert tuple(output.shape) == (4, size, size, filters)
    assert block.compute_output_shape(FEATURES.shape) == (4, size, size, filters)
    assert (block.shortcut_conv is None) == (filters == 6)
    clone = assert_config_round_trip(block)
    assert tuple(clone(FEATURES).shape) == (4, size, size, filters)


@pytest.mark.parametrize("norm", ["instance", "batch", "none"])
def test_first_conv_has_a_bias_only_without_normalization(norm):
    # A bias followed by a normalization is cancelled by it (no gradient).
    block = ResidualBlock(6, norm=norm)
    block(FEATURES)
    assert block.first_conv.use_bias == (norm == "none")


def test_conditioned_residual_blocks_shapes_and_config():
    adain_block = AdaINResidualBlock(3, resample="up")
    assert tuple(adain_block(FEATURES, STYLE).shape) == (4, 16, 16, 3)
    assert_config_round_trip(adain_block)
    cbn_block = CBNResidualBlock(12, num_classes=3, resample="down", momentum=0.9)
    assert tuple(cbn_block(FEATURES, np.array([0, 1, 2, 0], "int32"), training=True).shape) == (4, 4, 4, 12)
    assert tuple(cbn_block(FEATURES, np.eye(3, dtype="float32")[[0, 1, 2, 0]]).shape) == (4, 4, 4, 12)
    assert assert_config_round_trip(cbn_block).num_classes == 3


def test_cbn_residual_block_depends_on_the_class():
    block = CBNResidualBlock(6, num_classes=3)
    block(FEATURES, np.zeros(4, "int32"))
    for norm in (block.first_norm, block.second_norm):
        randomize(norm.gamma_table)
        randomize(norm.beta_table)
    first = ops.convert_to_numpy(block(FEATURES, np.zeros(4, "int32"), training=True))
    second = ops.convert_to_numpy(block(FEATURES, np.full(4, 2, "int32"), training=True))
    assert np.abs(first - second).max() > 1e-2


def zero_residual_branch(block):
    for variable in block.second_conv.weights:
        variable.assign(np.zeros(variable.shape, "float32"))


def test_down_block_shortcut_is_average_pooling_then_1x1_conv():
    block = ResidualBlock(12, norm="none", resample="down")
    block(FEATURES)
    zero_residual_branch(block)
    pooled = FEATURES.reshape(4, 4, 2, 4, 2, 6).mean(axis=(2, 4))
    expected = pooled @ block.shortcut_conv.kernel.numpy()[0, 0] / math.sqrt(2.0)
    np.testing.assert_allclose(block(FEATURES), expected, atol=1e-5)


def test_up_block_shortcut_is_nearest_upsampling():
    block = AdaINResidualBlock(6, resample="up")
    block(FEATURES, STYLE)
    zero_residual_branch(block)
    upsampled = FEATURES.repeat(2, axis=1).repeat(2, axis=2)
    np.testing.assert_allclose(block(FEATURES, STYLE), upsampled / math.sqrt(2.0), atol=1e-6)


def test_invalid_resample_is_rejected():
    with pytest.raises(ValueError, match="resample"):
        ResidualBlock(8, resample="stride")
