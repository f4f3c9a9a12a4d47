"""The serialisation names of ragan-tf 0.1, so that its `generator_ema.keras` files still load.

0.1 registered every class under the one package `ragan_tf` (`ragan_tf>Generator`),
which a second family's `Generator` would have overwritten. Today each
family registers under its own package (`ragan_tf.ragan>Generator`,
`ragan_tf.dcgan>DCGANGenerator`, shared layers under `ragan_tf.layers`);
the old names resolve to RAGAN's classes only, which were the only ones.
"""

import keras

from ragan_tf.layers import AdaIN, AdaINResidualBlock, CBNResidualBlock, ConditionalBatchNorm, ResidualBlock
from ragan_tf.models.ragan.age_modulator import AgeModulator
from ragan_tf.models.ragan.decoder import Decoder
from ragan_tf.models.ragan.discriminator import Discriminator
from ragan_tf.models.ragan.generator import Generator
from ragan_tf.models.ragan.identity_encoder import IdentityEncoder
from ragan_tf.models.ragan.ragan import RAGAN

LEGACY_CLASSES = (AdaIN, AdaINResidualBlock, CBNResidualBlock, ConditionalBatchNorm, ResidualBlock, AgeModulator,
                  Decoder, Discriminator, Generator, IdentityEncoder, RAGAN)

keras.saving.get_custom_objects().update({f"ragan_tf>{cls.__name__}": cls for cls in LEGACY_CLASSES})
