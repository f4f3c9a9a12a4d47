"""Building blocks shared by every model family: normalizations, CBN, AdaIN, residual blocks."""

from ragan_tf.layers.adain import AdaIN
from ragan_tf.layers.conditional_batch_norm import ConditionalBatchNorm
from ragan_tf.layers.normalization import instance_normalization, make_normalization
from ragan_tf.layers.residual_blocks import AdaINResidualBlock, CBNResidualBlock, ResidualBlock

__all__ = [
    "AdaIN",
    "AdaINResidualBlock",
    "CBNResidualBlock",
    "ConditionalBatchNorm",
    "ResidualBlock",
    "instance_normalization",
    "make_normalization",
]
