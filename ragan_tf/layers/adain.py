"""Adaptive instance normalization: the decoder's way of reading the age code."""

import keras
from keras import ops

from ragan_tf.layers.normalization import instance_normalization


@keras.saving.register_keras_serializable(package="ragan_tf.layers")
class AdaIN(keras.layers.Layer):
    """Instance normalization modulated by a style vector.

    `out = (1 + gamma(s)) * IN(x) + beta(s)` with `IN` an instance norm
    without affine transform and `[gamma, beta] = Dense(2C)(s)` (StarGAN v2's
    form: the `1 +` makes a zero projection the identity modulation).

    Args:
        epsilon: added to the instance variance.
        **kwargs: other `keras.layers.Layer` arguments (`name`, `dtype`).

    Example:
    ```python
    adain = AdaIN()
    features = keras.random.normal((2, 16, 16, 64))
    age_code = keras.random.normal((2, 256))
    modulated = adain(features, age_code)
    ```
    """

    def __init__(self, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon
        self.normalization = instance_normalization(
            center=False, scale=False, epsilon=epsilon, dtype=self.dtype_policy, name="normalization"
        )

    def build(self, inputs_shape, style_shape):
        channels = inputs_shape[-1]
        self.normalization.build(inputs_shape)
        self.style_projection = keras.layers.Dense(
            2 * channels, dtype=self.dtype_policy, name="style_projection"
        )
        self.style_projection.build(style_shape)

    def call(self, inputs, style):
        channels = ops.shape(inputs)[-1]
        modulation = ops.reshape(self.style_projection(style), (-1, 1, 1, 2 * channels))
        gamma, beta = ops.split(modulation, 2, axis=-1)
        return (1.0 + gamma) * self.normalization(inputs) + beta

    def compute_output_shape(self, inputs_shape, style_shape):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update({"epsilon": self.epsilon})
        return config
