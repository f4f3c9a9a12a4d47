"""Age-cGAN's generator (Antipov, Baccouche, Dugelay 2017; seed 001)."""

import keras
from keras import ops

from ragan_tf.models.dcgan.dcgan_generator import dcgan_batch_norm, dcgan_initializer
from ragan_tf.models.tasks import Sampler, age_condition

#: The generator's first feature map is START_SIZE x START_SIZE.
START_SIZE = 8


@keras.saving.register_keras_serializable(package="ragan_tf.age_cgan")
class AgeCGANGenerator(Sampler, keras.Model):
    """[z | y] -> dense -> dense to 8x8 -> (upsample x2, 5x5 convolution) blocks -> tanh image.

    Seed 001: "a 100-dimensional latent vector and a condition vector y ...
    dense, upsampling, and convolutional layers"; the paper concatenates the
    one-hot age category to z. Ours (the seed and paper state no widths): a
    dense layer of `hidden_units`, a dense layer to 8x8x`base_channels`, then
    one block per doubling of the resolution: nearest-neighbour upsampling,
    5x5 convolution halving the channels, batch norm, LeakyReLU 0.2; the last
    block's convolution goes to RGB with tanh and no batch norm. At 64 px:
    8x8x512 -> 16x16x256 -> 32x32x128 -> 64x64x3. A conditional `Sampler`.

    Args:
        image_size: output side, a power of two >= 16.
        noise_dim: size of z (the paper's 100).
        num_age_groups: size of the condition (the paper's 6).
        base_channels: channels at 8x8.
        hidden_units: width of the first dense layer.
        sync_batch_norm: batch statistics across replicas.
        **kwargs: other `keras.Model` arguments.

    Example:
    ```python
    generator = AgeCGANGenerator(64, num_age_groups=6)
    faces = generator(keras.random.normal((4, 100)), ops.array([0, 1, 2, 5]))  # [4, 64, 64, 3]
    ```
    """

    def __init__(self, image_size, noise_dim=100, num_age_groups=6, base_channels=512, hidden_units=2048,
                 sync_batch_norm=False, **kwargs):
        super().__init__(**kwargs)
        upsamples = image_size.bit_length() - 4  # START_SIZE * 2**upsamples == image_size
        if image_size < 2 * START_SIZE or START_SIZE * 2**upsamples != image_size:
            raise ValueError(f"AgeCGANGenerator needs a power-of-two image_size >= 16, got {image_size}.")
        if num_age_groups < 2:
            raise ValueError(f"AgeCGANGenerator is conditional: num_age_groups must be at least 2, got {num_age_groups}.")
        if base_channels < 2 ** (upsamples - 1):
            raise ValueError(f"base_channels={base_channels} cannot be halved {upsamples - 1} times.")
        self.image_size, self.noise_dim, self.num_age_groups = image_size, noise_dim, num_age_groups
        self.base_channels, self.hidden_units, self.sync_batch_norm = base_channels, hidden_units, sync_batch_norm

        dtype = self.dtype_policy
        dense = dict(kernel_initializer=dcgan_initializer(), dtype=dtype)
        self.hidden = keras.layers.Dense(hidden_units, name="hidden", **dense)
        self.project = keras.layers.Dense(START_SIZE * START_SIZE * base_channels, use_bias=False, name="project",
                                          **dense)
        self.project_norm = dcgan_batch_norm(sync_batch_norm, dtype, "project_norm")
        self.reshape = keras.layers.Reshape((START_SIZE, START_SIZE, base_channels), dtype=dtype, name="reshape")
        self.upsample = keras.layers.UpSampling2D(2, dtype=dtype, name="upsample")
        self.convolutions, self.norms = [], []
        for index in range(upsamples):
            last = index == upsamples - 1
            self.convolutions.append(keras.layers.Conv2D(
                3 if last else base_channels // 2 ** (index + 1), 5, padding="same", use_bias=last,
                name=f"up_{index}", **dense))
            if not last:
                self.norms.append(dcgan_batch_norm(sync_batch_norm, dtype, f"up_{index}_norm"))
        self.build((None, noise_dim), (None,))

    def build(self, noise_shape, target_age_shape=None):
        self.hidden.build((noise_shape[0], noise_shape[-1] + self.num_age_groups))
        self.project.build((noise_shape[0], self.hidden_units))
        shape = (noise_shape[0], START_SIZE, START_SIZE, self.base_channels)
        self.project_norm.build(shape)
        for index, layer in enumerate(self.convolutions):
            shape = (shape[0], 2 * shape[1], 2 * shape[2], shape[3])
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
            if index < len(self.norms):
                self.norms[index].build(shape)

    def call(self, noise, target_age, training=None):
        condition = ops.cast(age_condition(target_age, self.num_age_groups), noise.dtype)
        x = ops.leaky_relu(self.hidden(ops.concatenate([noise, condition], axis=-1)), 0.2)
        x = ops.leaky_relu(self.project_norm(self.reshape(self.project(x)), training=training), 0.2)
        for index, layer in enumerate(self.convolutions):
            x = layer(self.upsample(x))
            if index < len(self.norms):
                x = ops.leaky_relu(self.norms[index](x, training=training), 0.2)
        return ops.tanh(x)

    def get_config(self):
        config = super().get_config()
        config.update({"image_size": self.image_size, "noise_dim": self.noise_dim,
                       "num_age_groups": self.num_age_groups, "base_channels": self.base_channels,
                       "hidden_units": self.hidden_units, "sync_batch_norm": self.sync_batch_norm})
        return config
