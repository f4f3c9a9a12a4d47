"""Encoder + conditional DCGAN (seed 000): a conditional DCGAN, then an encoder of its latent space."""

from ragan_tf.models.encoder_cdcgan.encoder_conditional_dcgan import (
    EncoderConditionalDCGAN,
    EncoderConditionalDCGANAger,
)
from ragan_tf.models.encoder_cdcgan.latent_encoder import LatentEncoder

__all__ = ["EncoderConditionalDCGAN", "EncoderConditionalDCGANAger", "LatentEncoder"]
