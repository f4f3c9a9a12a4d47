"""The vanilla GAN's generator (seed 003, Fig. 2a)."""

import keras
from keras import ops

from ragan_tf.models.tasks import Sampler


@keras.saving.register_keras_serializable(package="ragan_tf.vanilla_gan")
class VanillaGenerator(Sampler, keras.Model):
    """Noise reshaped to (S/4)x(S/4)x16 -> 5x5 convolution of 128 filters -> S x S x 3, tanh.

    Seed 003: "the input/noise of shape 4096 ... reshapes it into 16x16x16 ...
    fed into a 2D convolution of only 128 layers with filter size 5x5 keeping
    the padding same which in turn outputs the final image of size 64x64x3;
    on the last layer tanh". It does not say how 16x16 becomes 64x64 nor how
    128 channels become 3. Ours: ReLU after the 128-filter convolution, a
    nearest-neighbour 4x upsampling, and a 5x5 convolution to 3 channels with
    tanh (resize then convolve, Odena et al. 2016, avoids the checkerboard of
    a stride-4 transposed convolution; nearest rather than bilinear because
    XLA cannot differentiate bilinear resizing in float64, which the
    exactness tests use). The noise is the input itself (no dense layer).

    Args:
        image_size: output size, divisible by 4 (64: noise of 4096).
        noise_channels: channels of the reshaped noise (16).
        filters: filters of the convolution (128).
        kernel_size: kernel of both convolutions (5).
        **kwargs: other `keras.Model` arguments.

    Example:
    ```python
    generator = VanillaGenerator(64)
    images = generator(keras.random.normal((8, generator.noise_dim)))  # [8, 64, 64, 3]
    ```
    """

    num_age_groups = 0

    def __init__(self, image_size, noise_channels=16, filters=128, kernel_size=5, **kwargs):
        super().__init__(**kwargs)
        if image_size % 4 or image_size < 8:
            raise ValueError(f"VanillaGenerator needs image_size divisible by 4 (>= 8), got {image_size}.")
        self.image_size = image_size
        self.noise_channels = noise_channels
        self.filters = filters
        self.kernel_size = kernel_size
        self.noise_dim = (image_size // 4) ** 2 * noise_channels

        dtype = self.dtype_policy
        self.reshape = keras.layers.Reshape((image_size // 4, image_size // 4, noise_channels), dtype=dtype,
                                            name="reshape")
        self.convolution = keras.layers.Conv2D(filters, kernel_size, padding="same", dtype=dtype, name="conv")
        self.upsample = keras.layers.UpSampling2D(4, interpolation="nearest", dtype=dtype, name="upsample")
        self.to_rgb = keras.layers.Conv2D(3, kernel_size, padding="same", dtype=dtype, name="to_rgb")
        self.build((None, self.noise_dim))

    def build(self, noise_shape, target_age_shape=None):
        quarter = self.image_size // 4
        self.convolution.build((noise_shape[0], quarter, quarter, self.noise_channels))
        self.to_rgb.build((noise_shape[0], self.image_size, self.image_size, self.filters))

    def call(self, noise, target_age=None, training=None):
        x = ops.relu(self.convolution(self.reshape(noise)))
        return ops.tanh(self.to_rgb(self.upsample(x)))

    def get_config(self):
        config = super().get_config()
        config.update({"image_size": self.image_size, "noise_channels": self.noise_channels,
                       "filters": self.filters, "kernel_size": self.kernel_size})
        return config
