"""Pre-activation residual blocks (StarGAN v2 style), plain or conditioned.

Every block computes `(shortcut(x) + residual(x)) / sqrt(2)` with

    residual: norm -> LeakyReLU -> [up] -> conv 3x3 -> [down] -> norm -> LeakyReLU -> conv 3x3
    shortcut: [down] -> [conv 1x1 when the width changes] -> [up]

Down is 2x2 average pooling, up is 2x nearest-neighbour upsampling
(`upsampling="bilinear"` for bilinear). The
first convolution keeps the input width when downsampling (StarGAN v2's
`ResBlk`) and maps to `filters` otherwise (its `AdainResBlk`), so the
convolutions at the higher resolution run on the narrower tensor. It has no
bias when a normalization follows it: the normalization would cancel the
bias, leaving a parameter without gradient that Adam still moves by noise.
The 1x1 shortcut runs at the lower resolution (it commutes with pooling and
nearest upsampling).

The three blocks differ only in their normalization: a fixed one
(`ResidualBlock`), AdaIN of a style vector (`AdaINResidualBlock`) or
conditional batch norm of class weights (`CBNResidualBlock`).
"""

import math

import keras

from ragan_tf.layers.adain import AdaIN
from ragan_tf.layers.conditional_batch_norm import ConditionalBatchNorm
from ragan_tf.layers.normalization import make_normalization

RESAMPLES = ("none", "down", "up")
UPSAMPLINGS = ("nearest", "bilinear")


class _PreActivationResidualBlock(keras.layers.Layer):
    """The structure shared by the residual blocks; subclasses choose the normalization."""

    def __init__(self, filters, resample="none", negative_slope=0.2, upsampling="nearest", **kwargs):
        super().__init__(**kwargs)
        if resample not in RESAMPLES:
            raise ValueError(f"resample must be one of {RESAMPLES}, got {resample!r}.")
        if upsampling not in UPSAMPLINGS:
            raise ValueError(f"upsampling must be one of {UPSAMPLINGS}, got {upsampling!r}.")
        self.filters = filters
        self.resample = resample
        self.negative_slope = negative_slope
        self.upsampling = upsampling
        self.activation = keras.layers.LeakyReLU(negative_slope, dtype=self.dtype_policy, name="activation")
        self.downsample = None
        self.upsample = None
        if resample == "down":
            self.downsample = keras.layers.AveragePooling2D(2, dtype=self.dtype_policy, name="downsample")
        elif resample == "up":
            self.upsample = keras.layers.UpSampling2D(
                2, interpolation=upsampling, dtype=self.dtype_policy, name="upsample"
            )

    def _make_norm(self, name):
        raise NotImplementedError

    def _normalizes(self):
        return True

    def _build_norm(self, norm, shape, condition_shape):
        norm.build(shape)

    def _apply_norm(self, norm, x, condition, training):
        return norm(x, condition, training=training)

    def _build_block(self, inputs_shape, condition_shape=None):
        channels = inputs_shape[-1]
        hidden = channels if self.resample == "down" else self.filters
        hidden_shape = (inputs_shape[0], None, None, hidden)
        self.first_norm = self._make_norm("first_norm")
        self.second_norm = self._make_norm("second_norm")
        self.first_conv = keras.layers.Conv2D(
            hidden, 3, padding="same", use_bias=not self._normalizes(), dtype=self.dtype_policy, name="first_conv"
        )
        self.second_conv = keras.layers.Conv2D(
            self.filters, 3, padding="same", dtype=self.dtype_policy, name="second_conv"
        )
        self.activation.build(inputs_shape)
        for resampling in (self.downsample, self.upsample):
            if resampling is not None:
                resampling.build(inputs_shape)
        self._build_norm(self.first_norm, inputs_shape, condition_shape)
        self.first_conv.build(inputs_shape)
        self._build_norm(self.second_norm, hidden_shape, condition_shape)
        self.second_conv.build(hidden_shape)
        self.shortcut_conv = None
        if channels != self.filters:
            self.shortcut_conv = keras.layers.Conv2D(
                self.filters, 1, use_bias=False, dtype=self.dtype_policy, name="shortcut_conv"
            )
            self.shortcut_conv.build(inputs_shape)

    def _residual(self, x, condition, training):
        x = self.activation(self._apply_norm(self.first_norm, x, condition, training))
        if self.upsample is not None:
            x = self.upsample(x)
        x = self.first_conv(x)
        if self.downsample is not None:
            x = self.downsample(x)
        x = self.activation(self._apply_norm(self.second_norm, x, condition, training))
        return self.second_conv(x)

    def _shortcut(self, x):
        if self.downsample is not None:
            x = self.downsample(x)
        if self.shortcut_conv is not None:
            x = self.shortcut_conv(x)
        if self.upsample is not None:
            x = self.upsample(x)
        return x

    def _forward(self, inputs, condition, training):
        # Dividing by sqrt(2) keeps the variance of the sum near that of the input.
        return (self._shortcut(inputs) + self._residual(inputs, condition, training)) * (1.0 / math.sqrt(2.0))

    def compute_output_shape(self, inputs_shape, *condition_shapes):
        batch, height, width, _ = inputs_shape

        def resampled(size):
            if size is None or self.resample == "none":
                return size
            return size * 2 if self.resample == "up" else size // 2

        return (batch, resampled(height), resampled(width), self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"filters": self.filters, "resample": self.resample, "negative_slope": self.negative_slope,
             "upsampling": self.upsampling}
        )
        return config


@keras.saving.register_keras_serializable(package="ragan_tf.layers")
class ResidualBlock(_PreActivationResidualBlock):
    """Pre-activation residual block with a fixed normalization.

    Args:
        filters: output channels.
        norm: `"instance"` (with affine), `"batch"` or `"none"`.
        resample: `"none"`, `"down"` (2x average pooling) or `"up"` (2x
            nearest upsampling).
        negative_slope: slope of the LeakyReLU activations.
        epsilon: added to the variance of the normalization.
        **kwargs: other `keras.layers.Layer` arguments (`name`, `dtype`).

    Example:
    ```python
    block = ResidualBlock(128, norm="instance", resample="down")
    features = block(keras.random.normal((2, 32, 32, 64)))  # (2, 16, 16, 128)
    ```
    """

    def __init__(self, filters, norm="instance", resample="none", negative_slope=0.2, epsilon=1e-5, **kwargs):
        super().__init__(filters, resample=resample, negative_slope=negative_slope, **kwargs)
        self.norm = norm
        self.epsilon = epsilon

    def _make_norm(self, name):
        return make_normalization(self.norm, epsilon=self.epsilon, dtype=self.dtype_policy, name=name)

    def _normalizes(self):
        return self.norm != "none"

    def _apply_norm(self, norm, x, condition, training):
        return norm(x, training=training)

    def build(self, input_shape):
        self._build_block(input_shape)

    def call(self, inputs, training=None):
        return self._forward(inputs, None, training)

    def get_config(self):
        config = super().get_config()
        config.update({"norm": self.norm, "epsilon": self.epsilon})
        return config


@keras.saving.register_keras_serializable(package="ragan_tf.layers")
class AdaINResidualBlock(_PreActivationResidualBlock):
    """Pre-activation residual block whose normalizations are AdaIN of a style vector.

    Args:
        filters: output channels.
        resample: `"none"`, `"down"` or `"up"`.
        negative_slope: slope of the LeakyReLU activations.
        epsilon: added to the instance variance.
        upsampling: `"nearest"` or `"bilinear"` (with `resample="up"`).
        **kwargs: other `keras.layers.Layer` arguments (`name`, `dtype`).

    Example:
    ```python
    block = AdaINResidualBlock(64, resample="up")
    features = block(keras.random.normal((2, 16, 16, 128)), keras.random.normal((2, 256)))
    ```
    """

    def __init__(self, filters, resample="none", negative_slope=0.2, epsilon=1e-5, **kwargs):
        super().__init__(filters, resample=resample, negative_slope=negative_slope, **kwargs)
        self.epsilon = epsilon

    def _make_norm(self, name):
        return AdaIN(epsilon=self.epsilon, dtype=self.dtype_policy, name=name)

    def _build_norm(self, norm, shape, condition_shape):
        norm.build(shape, condition_shape)

    def build(self, inputs_shape, style_shape):
        self._build_block(inputs_shape, style_shape)

    def call(self, inputs, style, training=None):
        return self._forward(inputs, style, training)

    def get_config(self):
        config = super().get_config()
        config.update({"epsilon": self.epsilon})
        return config


@keras.saving.register_keras_serializable(package="ragan_tf.layers")
class CBNResidualBlock(_PreActivationResidualBlock):
    """Pre-activation residual block whose normalizations are conditional batch norms.

    Args:
        filters: output channels.
        num_classes: number of classes of the conditional batch norms.
        resample: `"none"`, `"down"` or `"up"`.
        negative_slope: slope of the LeakyReLU activations.
        momentum: moving-average momentum of the batch statistics.
        epsilon: added to the batch variance.
        synchronized: batch statistics across the replicas of a strategy.
        **kwargs: other `keras.layers.Layer` arguments (`name`, `dtype`).

    Example:
    ```python
    block = CBNResidualBlock(256, num_classes=10, resample="down")
    features = block(keras.random.normal((4, 16, 16, 128)), ops.array([0, 1, 2, 3]), training=True)
    ```
    """

    def __init__(
        self,
        filters,
        num_classes,
        resample="none",
        negative_slope=0.2,
        momentum=0.99,
        epsilon=1e-5,
        synchronized=False,
        **kwargs,
    ):
        super().__init__(filters, resample=resample, negative_slope=negative_slope, **kwargs)
        self.num_classes = num_classes
        self.momentum = momentum
        self.epsilon = epsilon
        self.synchronized = synchronized

    def _make_norm(self, name):
        return ConditionalBatchNorm(
            self.num_classes,
            momentum=self.momentum,
            epsilon=self.epsilon,
            synchronized=self.synchronized,
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, input_shape):
        self._build_block(input_shape)

    def call(self, inputs, class_weights, training=None):
        return self._forward(inputs, class_weights, training)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "momentum": self.momentum,
                "epsilon": self.epsilon,
                "synchronized": self.synchronized,
            }
        )
        return config
