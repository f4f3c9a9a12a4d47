"""The vanilla GAN of seed 003: a one-convolution generator and a dense discriminator."""

from ragan_tf.models.vanilla_gan.vanilla_discriminator import VanillaDiscriminator
from ragan_tf.models.vanilla_gan.vanilla_generator import VanillaGenerator

__all__ = ["VanillaDiscriminator", "VanillaGenerator"]
