"""The classic GAN objective (Goodfellow et al. 2014) as a Keras training model, shared by the
DCGAN, vanilla GAN and conditional DCGAN families."""

from ragan_tf.models.gan.gan import GAN

__all__ = ["GAN"]
