"""Age-cGAN's encoder E (Antipov et al. 2017; seed 001): an image -> the generator's latent z."""

import keras
from keras import ops

from ragan_tf.layers.precision import output_dtype
from ragan_tf.models.dcgan.dcgan_generator import dcgan_batch_norm, dcgan_initializer

CONV_BLOCKS = 4


@keras.saving.register_keras_serializable(package="ragan_tf.age_cgan")
class AgeCGANEncoder(keras.Model):
    """Four convolution blocks and two dense layers to z.

    Seed 001: "four convolutional blocks and two dense layers. Each
    convolutional block has a convolutional layer, followed by a batch
    normalization layer, and an activation function except the first
    convolutional layer." Ours (unstated): 5x5 stride-2 convolutions of
    `base_channels` doubling per block, LeakyReLU 0.2, a dense layer of
    `hidden_units` with batch norm and LeakyReLU, and a linear dense layer to
    z (z is standard normal, so no output activation).

    Args:
        image_size: input side, divisible by 16.
        noise_dim: size of z.
        base_channels: channels of the first block.
        hidden_units: width of the first dense layer.
        sync_batch_norm: batch statistics across replicas.
        **kwargs: other `keras.Model` arguments.
    """

    def __init__(self, image_size, noise_dim=100, base_channels=32, hidden_units=1024, sync_batch_norm=False,
                 **kwargs):
        super().__init__(**kwargs)
        if image_size < 2**CONV_BLOCKS or image_size % 2**CONV_BLOCKS:
            raise ValueError(f"AgeCGANEncoder needs an image_size divisible by {2**CONV_BLOCKS}, got {image_size}.")
        self.image_size, self.noise_dim = image_size, noise_dim
        self.base_channels, self.hidden_units, self.sync_batch_norm = base_channels, hidden_units, sync_batch_norm
        dtype = self.dtype_policy
        self.convolutions = [
            keras.layers.Conv2D(base_channels * 2**index, 5, strides=2, padding="same", use_bias=index == 0,
                                kernel_initializer=dcgan_initializer(), dtype=dtype, name=f"down_{index}")
            for index in range(CONV_BLOCKS)
        ]
        self.norms = [dcgan_batch_norm(sync_batch_norm, dtype, f"down_{index}_norm") for index in range(1, CONV_BLOCKS)]
        self.flatten = keras.layers.Flatten(dtype=dtype, name="flatten")
        self.hidden = keras.layers.Dense(hidden_units, use_bias=False, kernel_initializer=dcgan_initializer(),
                                         dtype=dtype, name="hidden")
        self.hidden_norm = dcgan_batch_norm(sync_batch_norm, dtype, "hidden_norm")
        self.to_noise = keras.layers.Dense(noise_dim, dtype=output_dtype(dtype), name="to_noise")
        self.build((None, image_size, image_size, 3))

    def build(self, image_shape):
        shape = image_shape
        for index, layer in enumerate(self.convolutions):
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
            if index:
                self.norms[index - 1].build(shape)
        self.hidden.build((shape[0], shape[1] * shape[2] * shape[3]))
        self.hidden_norm.build((shape[0], self.hidden_units))
        self.to_noise.build((shape[0], self.hidden_units))

    def call(self, image, training=None):
        x = ops.leaky_relu(self.convolutions[0](image), 0.2)
        for layer, norm in zip(self.convolutions[1:], self.norms):
            x = ops.leaky_relu(norm(layer(x), training=training), 0.2)
        x = ops.leaky_relu(self.hidden_norm(self.hidden(self.flatten(x)), training=training), 0.2)
        return self.to_noise(x)

    def get_config(self):
        config = super().get_config()
        config.update({"image_size": self.image_size, "noise_dim": self.noise_dim,
                       "base_channels": self.base_channels, "hidden_units": self.hidden_units,
                       "sync_batch_norm": self.sync_batch_norm})
        return config
