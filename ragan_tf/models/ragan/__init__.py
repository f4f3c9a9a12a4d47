"""Re-Aging GAN (RAGAN): the networks of paper Fig. 2 and their builders."""

from ragan_tf.models.ragan.age_modulator import AgeModulator
from ragan_tf.models.ragan.builders import build_discriminator, build_generator
from ragan_tf.models.ragan.decoder import Decoder
from ragan_tf.models.ragan.discriminator import Discriminator
from ragan_tf.models.ragan.generator import Generator
from ragan_tf.models.ragan.identity_encoder import IdentityEncoder

__all__ = [
    "AgeModulator",
    "Decoder",
    "Discriminator",
    "Generator",
    "IdentityEncoder",
    "build_discriminator",
    "build_generator",
]
