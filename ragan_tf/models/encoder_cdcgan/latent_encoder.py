"""The encoder of seed 000: an image -> the generator's latent z."""

import keras
from keras import ops

from ragan_tf.layers.precision import output_dtype
from ragan_tf.models.dcgan.dcgan_generator import dcgan_batch_norm, dcgan_initializer


@keras.saving.register_keras_serializable(package="ragan_tf.encoder_cdcgan")
class LatentEncoder(keras.Model):
    """5x5 stride-2 convolutions with batch norm and ReLU down to 4x4, then a dense layer to z.

    Seed 000: "filter sizes of size 5 along with BatchNorm and ReLU ... use NO
    activation function" on the last layer, because it regresses a standard
    normal z. Channel counts are ours: `base_channels`, doubled per
    convolution.

    Args:
        image_size: input height and width, a power of two >= 8.
        noise_dim: size of z.
        base_channels: channels of the first convolution.
        sync_batch_norm: batch statistics across replicas.
        **kwargs: other `keras.Model` arguments.
    """

    def __init__(self, image_size, noise_dim=100, base_channels=64, sync_batch_norm=False, **kwargs):
        super().__init__(**kwargs)
        downsamples = image_size.bit_length() - 3
        if image_size < 8 or 4 * 2**downsamples != image_size:
            raise ValueError(f"LatentEncoder needs a power-of-two image_size >= 8, got {image_size}.")
        self.image_size = image_size
        self.noise_dim = noise_dim
        self.base_channels = base_channels
        self.sync_batch_norm = sync_batch_norm
        dtype = self.dtype_policy
        self.convolutions = [
            keras.layers.Conv2D(base_channels * 2**index, 5, strides=2, padding="same", use_bias=False,
                                kernel_initializer=dcgan_initializer(), dtype=dtype, name=f"down_{index}")
            for index in range(downsamples)
        ]
        self.norms = [dcgan_batch_norm(sync_batch_norm, dtype, f"down_{index}_norm") for index in range(downsamples)]
        self.flatten = keras.layers.Flatten(dtype=dtype, name="flatten")
        self.to_noise = keras.layers.Dense(noise_dim, dtype=output_dtype(dtype), name="to_noise")
        self.build((None, image_size, image_size, 3))

    def build(self, image_shape):
        shape = image_shape
        for layer, norm in zip(self.convolutions, self.norms):
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
            norm.build(shape)
        self.to_noise.build((shape[0], shape[1] * shape[2] * shape[3]))

    def call(self, image, training=None):
        x = image
        for layer, norm in zip(self.convolutions, self.norms):
            x = ops.relu(norm(layer(x), training=training))
        return self.to_noise(self.flatten(x))

    def get_config(self):
        config = super().get_config()
        config.update({"image_size": self.image_size, "noise_dim": self.noise_dim,
                       "base_channels": self.base_channels, "sync_batch_norm": self.sync_batch_norm})
        return config
