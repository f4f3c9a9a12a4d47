"""RAGAN's identity encoder Enc (paper Fig. 2): image-level features, face mask, f_id."""

import keras

from ragan_tf.layers import ResidualBlock


def encoder_channels(base_channels, max_channels, downsamples):
    """Channels at each encoder resolution, full resolution first: doubling, capped.

    `encoder_channels(64, 512, 2) == [64, 128, 256]`; the decoder mirrors it.
    """
    return [min(base_channels * 2**level, max_channels) for level in range(downsamples + 1)]


@keras.saving.register_keras_serializable(package="ragan_tf.ragan")
class IdentityEncoder(keras.layers.Layer):
    """Encodes the face region of an image into identity features f_id.

    An image-level 7x7 convolution (the stem, no activation) gives
    image-level features; multiplied by the face mask they become
    face-related features, which `downsamples` instance-normalized residual
    blocks bring to 1/2**downsamples resolution (doubling the channels up to
    `max_channels`) and `residual_blocks` more residual blocks refine there.
    The image-level features are returned too: outside the mask they are the
    decoder's background feature-flow.

    Because the mask multiplies features, not pixels, f_id depends on the
    pixels inside the mask and on those within 3 pixels of it (the stem's
    7x7 receptive field), and on nothing farther away.

    Args:
        base_channels: channels of the stem.
        max_channels: cap on the channels of the downsampling blocks.
        downsamples: number of downsampling residual blocks.
        residual_blocks: number of residual blocks at the bottleneck resolution.
        **kwargs: other `keras.layers.Layer` arguments (`name`, `dtype`).

    Example:
    ```python
    encoder = IdentityEncoder(base_channels=64, max_channels=512)
    identity_features, image_features = encoder(images, face_masks)
    # [B, H/4, W/4, 256], [B, H, W, 64]
    ```
    """

    def __init__(self, base_channels=64, max_channels=512, downsamples=2, residual_blocks=2, **kwargs):
        super().__init__(**kwargs)
        self.base_channels = base_channels
        self.max_channels = max_channels
        self.downsamples = downsamples
        self.residual_blocks = residual_blocks
        channels = encoder_channels(base_channels, max_channels, downsamples)
        self.stem = keras.layers.Conv2D(base_channels, 7, padding="same", dtype=self.dtype_policy, name="stem")
        self.blocks = [
            ResidualBlock(filters, norm="instance", resample="down", dtype=self.dtype_policy, name=f"down_block_{i}")
            for i, filters in enumerate(channels[1:])
        ] + [
            ResidualBlock(channels[-1], norm="instance", dtype=self.dtype_policy, name=f"bottleneck_block_{i}")
            for i in range(residual_blocks)
        ]

    def build(self, image_shape, face_mask_shape):
        self.stem.build(image_shape)
        shape = (*image_shape[:-1], self.base_channels)
        for block in self.blocks:
            block.build(shape)
            shape = block.compute_output_shape(shape)

    def compute_output_shape(self, image_shape, face_mask_shape):
        image_features_shape = (*image_shape[:-1], self.base_channels)
        shape = image_features_shape
        for block in self.blocks:
            shape = block.compute_output_shape(shape)
        return shape, image_features_shape

    def call(self, image, face_mask, training=None):
        identity_features, image_features, _ = self.encode(image, face_mask, training=training)
        return identity_features, image_features

    def encode(self, image, face_mask, training=None):
        """`(f_id, image_features, skips)`: `call`'s outputs and the face features entering each
        downsampling block, full resolution first (`len(skips) == downsamples`; the decoder's
        optional skip connections read them)."""
        image_features = self.stem(image)
        identity_features = image_features * face_mask
        skips = []
        for index, block in enumerate(self.blocks):
            if index < self.downsamples:
                skips.append(identity_features)
            identity_features = block(identity_features, training=training)
        return identity_features, image_features, skips

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "base_channels": self.base_channels,
                "max_channels": self.max_channels,
                "downsamples": self.downsamples,
                "residual_blocks": self.residual_blocks,
            }
        )
        return config
