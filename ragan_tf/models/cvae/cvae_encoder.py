"""The conditional VAE's encoder (seed 004): convolutions of 16/32/64/128 channels, flattened, with
the condition (age and gender) appended, to dense layers for the posterior's mean and log-variance."""

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="ragan_tf.cvae")
class CVAEEncoder(keras.Model):
    """`encoder(image [-1, 1] [B, S, S, 3], condition [B, C]) -> (mu, log_variance)`, each [B, latent_dim].

    Each convolution halves the side (4 x 4 kernels, stride 2, LeakyReLU 0.2:
    the seed names only the channel counts). The condition joins the
    flattened features before the two dense heads.

    Args:
        image_size: input side S (divisible by 2 ** len(channels)).
        condition_dim: C, the condition's width (age-group weights + gender one-hot).
        channels: convolution widths (the seed's 16, 32, 64, 128).
        latent_dim: the latent size (the seed's 256).
    """

    def __init__(self, image_size, condition_dim, channels=(16, 32, 64, 128), latent_dim=256, **kwargs):
        super().__init__(**kwargs)
        self.image_size, self.condition_dim = int(image_size), int(condition_dim)
        self.channels, self.latent_dim = tuple(int(c) for c in channels), int(latent_dim)
        self.convolutions = [layers.Conv2D(width, 4, strides=2, padding="same", name=f"conv{index + 1}")
                             for index, width in enumerate(self.channels)]
        self.flatten = layers.Flatten()
        self.mean = layers.Dense(self.latent_dim, name="mu")
        self.log_variance = layers.Dense(self.latent_dim, name="log_variance")
        self(ops.zeros((1, self.image_size, self.image_size, 3)), ops.zeros((1, self.condition_dim)))

    def call(self, image, condition, training=False):
        features = image
        for convolution in self.convolutions:
            features = ops.leaky_relu(convolution(features), 0.2)
        features = ops.concatenate([self.flatten(features), ops.cast(condition, features.dtype)], axis=-1)
        return self.mean(features), self.log_variance(features)

    def get_config(self):
        return {**super().get_config(), "image_size": self.image_size, "condition_dim": self.condition_dim,
                "channels": list(self.channels), "latent_dim": self.latent_dim}
