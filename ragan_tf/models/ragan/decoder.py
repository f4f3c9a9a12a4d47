"""RAGAN's decoder Dec (paper Fig. 2): age-modulated face features, recombined with the background."""

import keras
from keras import ops

from ragan_tf.layers import AdaINResidualBlock, ResidualBlock
from ragan_tf.layers.precision import output_dtype
from ragan_tf.models.ragan.identity_encoder import encoder_channels

#: Which decoder blocks read the age code through AdaIN: "every_block" (the paper) or
#: "bottleneck" (ours: the up blocks use plain instance norm).
MODULATIONS = ("every_block", "bottleneck")


@keras.saving.register_keras_serializable(package="ragan_tf.ragan")
class Decoder(keras.layers.Layer):
    """Decodes identity features under an age code, then pastes the face onto the background.

    Structure (mirroring the identity encoder):

    1. `bottleneck_blocks` AdaIN residual blocks at the bottleneck resolution
       (the paper's four age-modulated decoder blocks);
    2. `upsamples` AdaIN residual blocks, each doubling the resolution and
       halving the channels back to the encoder's widths, ending at full
       resolution with `base_channels` channels; with `skips` (ours, not the
       paper's), each up block's output gets a 1x1 convolution of the
       encoder's face features at that resolution added (U-Net skip
       connections: the spatial detail need not pass the bottleneck);
    3. face/background recombination in feature space:
       `face_mask * face_features + (1 - face_mask) * image_features`, where
       `image_features` are the encoder's image-level (stem) features: the
       background feature-flow;
    4. LeakyReLU, a 3x3 convolution to RGB and tanh (float32 under mixed
       precision). The 3x3 kernel blends the seam along the mask edge.

    Args:
        base_channels: channels at full resolution (the encoder's stem width).
        max_channels: cap on the channels, as in the encoder.
        upsamples: number of upsampling blocks (the encoder's downsamples).
        bottleneck_blocks: number of AdaIN residual blocks at the bottleneck resolution.
        upsampling: `"nearest"` (StarGAN v2's) or `"bilinear"` (ours: no 2**upsamples-pixel blocks).
        modulation: `"every_block"` (the paper: AdaIN in every block) or `"bottleneck"` (ours:
            only the bottleneck blocks read the age code; the up blocks use instance norm with
            an affine transform, so no per-image modulation rescales their spatial detail).
        skips: ours (off = the paper): add the encoder's face features at each upsampled resolution;
            `call` and `face_features` then take them as `skips` (`IdentityEncoder.encode`).
        **kwargs: other `keras.layers.Layer` arguments (`name`, `dtype`).

    Example:
    ```python
    decoder = Decoder(base_channels=64, max_channels=512)
    images = decoder(identity_features, age_code, image_features, face_masks)  # [B, H, W, 3]
    ```
    """

    def __init__(self, base_channels=64, max_channels=512, upsamples=2, bottleneck_blocks=4, upsampling="nearest",
                 skips=False, modulation="every_block", **kwargs):
        super().__init__(**kwargs)
        self.base_channels = base_channels
        self.max_channels = max_channels
        self.upsamples = upsamples
        self.bottleneck_blocks = bottleneck_blocks
        self.upsampling = upsampling
        self.skips = skips
        if modulation not in MODULATIONS:
            raise ValueError(f"modulation must be one of {MODULATIONS}, got {modulation!r}.")
        self.modulation = modulation
        channels = encoder_channels(base_channels, max_channels, upsamples)
        up_block = (
            AdaINResidualBlock
            if modulation == "every_block"
            else lambda filters, **options: ResidualBlock(filters, norm="instance", **options)
        )
        self.blocks = [
            AdaINResidualBlock(channels[-1], dtype=self.dtype_policy, name=f"adain_block_{i}")
            for i in range(bottleneck_blocks)
        ] + [
            up_block(channels[level], resample="up", upsampling=upsampling, dtype=self.dtype_policy,
                     name=f"up_block_{i}")
            for i, level in enumerate(reversed(range(upsamples)))
        ]
        self.skip_projections = [
            keras.layers.Conv2D(channels[level], 1, dtype=self.dtype_policy, name=f"skip_projection_{i}")
            for i, level in enumerate(reversed(range(upsamples)))
        ] if skips else []
        self.activation = keras.layers.LeakyReLU(0.2, dtype=self.dtype_policy, name="activation")
        self.to_rgb = keras.layers.Conv2D(3, 3, padding="same", dtype=output_dtype(self.dtype_policy), name="to_rgb")

    def build(self, identity_features_shape, age_code_shape, image_features_shape, face_mask_shape):
        shape = identity_features_shape
        for block in self.blocks:
            condition_shapes = (age_code_shape,) if self._modulated(block) else ()
            block.build(shape, *condition_shapes)
            shape = block.compute_output_shape(shape, *condition_shapes)
        channels = encoder_channels(self.base_channels, self.max_channels, self.upsamples)
        for projection, level in zip(self.skip_projections, reversed(range(self.upsamples))):
            projection.build((None, None, None, channels[level]))
        self.activation.build(image_features_shape)
        self.to_rgb.build(image_features_shape)

    @staticmethod
    def _modulated(block):
        return isinstance(block, AdaINResidualBlock)

    def _block(self, block, features, age_code, training):
        if self._modulated(block):
            return block(features, age_code, training=training)
        return block(features, training=training)

    def face_features(self, identity_features, age_code, training=None, skips=None):
        """Steps 1-2: the age-modulated face features at full resolution, [B, H, W, base_channels].

        `skips`: the encoder's face features, full resolution first (with `skips=True`)."""
        if self.skips and skips is None:
            raise ValueError("This decoder was built with skips=True: pass the encoder's `skips` "
                             "(IdentityEncoder.encode).")
        face_features = identity_features
        for block in self.blocks[: self.bottleneck_blocks]:
            face_features = self._block(block, face_features, age_code, training)
        for index, block in enumerate(self.blocks[self.bottleneck_blocks:]):
            face_features = self._block(block, face_features, age_code, training)
            if self.skips:
                face_features = face_features + self.skip_projections[index](skips[self.upsamples - 1 - index])
        return face_features

    def recombine(self, face_features, image_features, face_mask):
        """Steps 3-4: face features inside the mask, the background feature-flow outside, to RGB."""
        features = face_mask * face_features + (1.0 - face_mask) * image_features
        return ops.tanh(self.to_rgb(self.activation(features)))

    def call(self, identity_features, age_code, image_features, face_mask, training=None, skips=None):
        face_features = self.face_features(identity_features, age_code, training=training, skips=skips)
        return self.recombine(face_features, image_features, face_mask)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "base_channels": self.base_channels,
                "max_channels": self.max_channels,
                "upsamples": self.upsamples,
                "bottleneck_blocks": self.bottleneck_blocks,
                "upsampling": self.upsampling,
                "skips": self.skips,
                "modulation": self.modulation,
            }
        )
        return config
