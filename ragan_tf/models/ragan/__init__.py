"""Re-Aging GAN (RAGAN): the networks of paper Fig. 2, the training model and the family."""

from ragan_tf.models.ragan import legacy_names  # noqa: F401  (loads models saved by ragan-tf 0.1)
from ragan_tf.models.ragan.age_modulator import AgeModulator
from ragan_tf.models.ragan.decoder import Decoder
from ragan_tf.models.ragan.discriminator import Discriminator
from ragan_tf.models.ragan.generator import Generator
from ragan_tf.models.ragan.identity_encoder import IdentityEncoder
from ragan_tf.models.ragan.ragan import RAGAN

__all__ = ["RAGAN", "AgeModulator", "Decoder", "Discriminator", "Generator", "IdentityEncoder"]
