"""DCGAN's generator (Radford, Metz, Chintala 2016; seed 003), optionally age-conditioned (seed 000)."""

import keras
from keras import ops

from ragan_tf.models.tasks import Sampler, age_condition


def dcgan_initializer():
    """N(0, 0.02), the paper's initialisation of every convolution and dense layer."""
    return keras.initializers.RandomNormal(0.0, 0.02)


def dcgan_batch_norm(sync_batch_norm, dtype, name):
    """Batch norm with the DCGAN reference code's scale initialisation N(1, 0.02)."""
    return keras.layers.BatchNormalization(
        gamma_initializer=keras.initializers.RandomNormal(1.0, 0.02),
        synchronized=sync_batch_norm,
        dtype=dtype,
        name=name,
    )


@keras.saving.register_keras_serializable(package="ragan_tf.dcgan")
class DCGANGenerator(Sampler, keras.Model):
    """z -> projected and reshaped to 4x4 -> 4x4 stride-2 transposed convolutions -> tanh image.

    Each transposed convolution doubles the resolution and halves the
    channels; batch norm and ReLU follow every layer except the output,
    which is tanh (images in [-1, 1]). Weights start from N(0, 0.02). At
    64 px with `base_channels=1024`: 4x4x1024 -> 8x8x512 -> 16x16x256 ->
    32x32x128 -> 64x64x3, the paper's generator. With `num_age_groups` > 0 the
    age condition (one-hot group, or weights over groups) is concatenated to z
    (the conditional DCGAN of seed 000). A `Sampler` (`ragan_tf.models.tasks`).

    Args:
        image_size: output height and width, a power of two >= 8.
        noise_dim: size of z.
        num_age_groups: 0 for an unconditional generator, else the number of groups.
        base_channels: channels at 4x4.
        sync_batch_norm: batch statistics across the replicas of a distribution strategy.
        **kwargs: other `keras.Model` arguments (`name`, `dtype`).

    Example:
    ```python
    generator = DCGANGenerator(64, noise_dim=100)
    images = generator(keras.random.normal((16, 100)))  # [16, 64, 64, 3]
    conditional = DCGANGenerator(64, num_age_groups=2)
    older = conditional(keras.random.normal((16, 100)), ops.ones((16,), "int32"))
    ```
    """

    def __init__(self, image_size, noise_dim=100, num_age_groups=0, base_channels=1024, sync_batch_norm=False,
                 **kwargs):
        super().__init__(**kwargs)
        upsamples = image_size.bit_length() - 3  # 4 * 2**upsamples == image_size
        if image_size < 8 or 4 * 2**upsamples != image_size:
            raise ValueError(f"DCGANGenerator needs a power-of-two image_size >= 8, got {image_size}.")
        if base_channels < 2 ** (upsamples - 1):
            raise ValueError(f"base_channels={base_channels} cannot be halved {upsamples - 1} times.")
        self.image_size = image_size
        self.noise_dim = noise_dim
        self.num_age_groups = num_age_groups
        self.base_channels = base_channels
        self.sync_batch_norm = sync_batch_norm

        dtype = self.dtype_policy
        self.project = keras.layers.Dense(4 * 4 * base_channels, use_bias=False, kernel_initializer=dcgan_initializer(),
                                          dtype=dtype, name="project")
        self.reshape = keras.layers.Reshape((4, 4, base_channels), dtype=dtype, name="reshape")
        self.norms = [dcgan_batch_norm(sync_batch_norm, dtype, "project_norm")]
        self.upsampling = []
        for index in range(upsamples):
            last = index == upsamples - 1
            channels = 3 if last else base_channels // 2 ** (index + 1)
            self.upsampling.append(keras.layers.Conv2DTranspose(
                channels, 4, strides=2, padding="same", use_bias=last, kernel_initializer=dcgan_initializer(),
                dtype=dtype, name=f"up_{index}"))
            if not last:
                self.norms.append(dcgan_batch_norm(sync_batch_norm, dtype, f"up_{index}_norm"))
        self.build((None, noise_dim), (None,) if num_age_groups else None)

    def build(self, noise_shape, target_age_shape=None):
        condition_size = self.num_age_groups
        self.project.build((noise_shape[0], noise_shape[-1] + condition_size))
        shape = (noise_shape[0], 4, 4, self.base_channels)
        self.norms[0].build(shape)
        for index, layer in enumerate(self.upsampling):
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
            if index + 1 < len(self.norms):
                self.norms[index + 1].build(shape)

    def call(self, noise, target_age=None, training=None):
        if self.num_age_groups:
            if target_age is None:
                raise ValueError("This DCGANGenerator is conditional: pass target_age.")
            noise = ops.concatenate([noise, ops.cast(age_condition(target_age, self.num_age_groups), noise.dtype)], -1)
        x = ops.relu(self.norms[0](self.reshape(self.project(noise)), training=training))
        for index, layer in enumerate(self.upsampling):
            x = layer(x)
            if index + 1 < len(self.norms):
                x = ops.relu(self.norms[index + 1](x, training=training))
        return ops.tanh(x)

    def get_config(self):
        config = super().get_config()
        config.update({
            "image_size": self.image_size,
            "noise_dim": self.noise_dim,
            "num_age_groups": self.num_age_groups,
            "base_channels": self.base_channels,
            "sync_batch_norm": self.sync_batch_norm,
        })
        return config
