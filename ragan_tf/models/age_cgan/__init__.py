"""Age-cGAN (Antipov, Baccouche, Dugelay 2017; seed 001): conditional GAN, encoder, latent optimisation."""

from ragan_tf.models.age_cgan.age_cgan import AgeCGAN, AgeCGANAger
from ragan_tf.models.age_cgan.age_cgan_encoder import AgeCGANEncoder
from ragan_tf.models.age_cgan.age_cgan_generator import AgeCGANGenerator

__all__ = ["AgeCGAN", "AgeCGANAger", "AgeCGANEncoder", "AgeCGANGenerator"]
