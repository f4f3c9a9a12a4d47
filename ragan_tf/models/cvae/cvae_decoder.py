"""The conditional VAE's decoder (seed 004): the encoder mirrored with transposed convolutions."""

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="ragan_tf.cvae")
class CVAEDecoder(keras.Model):
    """`decoder(z [B, latent_dim], condition [B, C]) -> image [-1, 1] [B, S, S, 3]`.

    [z, condition] -> dense -> [S / 2^n, S / 2^n, channels[-1]], then one 4 x 4
    stride-2 transposed convolution per encoder convolution, widths in
    reverse (LeakyReLU 0.2), the last one to RGB with tanh.

    Args:
        image_size: output side S.
        condition_dim: C.
        channels: the encoder's widths (mirrored).
        latent_dim: the latent size.
    """

    def __init__(self, image_size, condition_dim, channels=(16, 32, 64, 128), latent_dim=256, **kwargs):
        super().__init__(**kwargs)
        self.image_size, self.condition_dim = int(image_size), int(condition_dim)
        self.channels, self.latent_dim = tuple(int(c) for c in channels), int(latent_dim)
        self.start = self.image_size // 2 ** len(self.channels)
        self.project = layers.Dense(self.start * self.start * self.channels[-1], name="project")
        self.upsamplings = [layers.Conv2DTranspose(width, 4, strides=2, padding="same", name=f"deconv{index + 1}")
                            for index, width in enumerate(reversed(self.channels[:-1]))]
        self.to_rgb = layers.Conv2DTranspose(3, 4, strides=2, padding="same", name="to_rgb")
        self(ops.zeros((1, self.latent_dim)), ops.zeros((1, self.condition_dim)))

    def call(self, z, condition, training=False):
        features = self.project(ops.concatenate([z, ops.cast(condition, z.dtype)], axis=-1))
        features = ops.leaky_relu(ops.reshape(features, (-1, self.start, self.start, self.channels[-1])), 0.2)
        for upsampling in self.upsamplings:
            features = ops.leaky_relu(upsampling(features), 0.2)
        return ops.tanh(self.to_rgb(features))

    def get_config(self):
        return {**super().get_config(), "image_size": self.image_size, "condition_dim": self.condition_dim,
                "channels": list(self.channels), "latent_dim": self.latent_dim}
