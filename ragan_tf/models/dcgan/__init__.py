"""DCGAN (Radford, Metz, Chintala 2016), as seed 003 describes it: generator, discriminator, family."""

from ragan_tf.models.dcgan.dcgan_discriminator import DCGANDiscriminator
from ragan_tf.models.dcgan.dcgan_generator import DCGANGenerator

__all__ = ["DCGANDiscriminator", "DCGANGenerator"]
