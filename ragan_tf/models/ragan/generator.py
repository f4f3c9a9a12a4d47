"""RAGAN's generator G = Dec(Enc(x, mask), AM(f_id, y')) (paper Fig. 2)."""

import keras
from keras import ops

from ragan_tf.models.ragan.age_modulator import AgeModulator
from ragan_tf.models.ragan.decoder import Decoder
from ragan_tf.models.ragan.identity_encoder import IdentityEncoder
from ragan_tf.models.tasks import AgeTransformer, tile_ages


@keras.saving.register_keras_serializable(package="ragan_tf.ragan")
class Generator(AgeTransformer, keras.Model):
    """Re-ages the face region of an image to a target age group, keeping the background.

    The identity encoder turns the masked image-level features into identity
    features f_id; the age modulator turns f_id and the target age into an
    age code f_aw through conditional batch norm; the decoder, modulated by
    f_aw through AdaIN, renders the face and recombines it with the
    background feature-flow. One generator serves every age group. It is an
    `AgeTransformer` (`ragan_tf.models.tasks`).

    The model is built on construction, so its variables exist before `fit`,
    restoring or building optimizers.

    Args:
        image_size: height and width of the images.
        num_age_groups: number of age groups.
        base_channels: channels at full resolution.
        max_channels: cap on the channels of every block.
        encoder_downsamples: downsampling blocks of the encoder (the
            bottleneck is at `image_size / 2**encoder_downsamples`).
        encoder_residual_blocks: residual blocks at the encoder's bottleneck.
        modulator_downsamples: CBN downsampling blocks of the age modulator
            (each with `max_channels` channels).
        age_code_dim: size of the age code f_aw.
        decoder_blocks: AdaIN residual blocks at the decoder's bottleneck
            (before its upsampling blocks).
        sync_batch_norm: compute the age modulator's batch statistics across
            the replicas of a distribution strategy.
        decoder_upsampling: `"nearest"` or `"bilinear"` upsampling in the decoder.
        decoder_skips: ours, not the paper's: U-Net skip connections from the
            identity encoder's face features to the decoder's up blocks
            (`Decoder(skips=True)`), so spatial detail need not pass the bottleneck.
        decoder_modulation: `"every_block"` (the paper) or `"bottleneck"` (ours: AdaIN only in
            the decoder's bottleneck blocks, instance norm in its up blocks).
        paste_background: ours, not the paper's: replace the output outside the
            face mask by the input's pixels (`mask * G + (1 - mask) * x`), so
            the background is kept exactly instead of through the feature-flow.
        **kwargs: other `keras.Model` arguments (`name`, `dtype`).

    Example:
    ```python
    generator = Generator(image_size=256, num_age_groups=10)
    aged = generator(images, face_masks, ops.full((batch,), 7, "int32"))
    # Halfway between groups 6 and 7:
    weights = ops.one_hot(ops.full((batch,), 6), 10) * 0.5 + ops.one_hot(ops.full((batch,), 7), 10) * 0.5
    between = generator(images, face_masks, weights)
    ```
    """

    def __init__(
        self,
        image_size,
        num_age_groups,
        base_channels=64,
        max_channels=512,
        encoder_downsamples=2,
        encoder_residual_blocks=2,
        modulator_downsamples=3,
        age_code_dim=256,
        decoder_blocks=4,
        sync_batch_norm=False,
        decoder_upsampling="nearest",
        paste_background=False,
        decoder_skips=False,
        decoder_modulation="every_block",
        **kwargs,
    ):
        super().__init__(**kwargs)
        bottleneck_size = image_size // 2**encoder_downsamples
        if image_size % 2**encoder_downsamples or bottleneck_size < 2**modulator_downsamples:
            raise ValueError(
                f"image_size={image_size} must be divisible by 2**encoder_downsamples="
                f"{2**encoder_downsamples} and leave a bottleneck of at least "
                f"2**modulator_downsamples={2**modulator_downsamples} pixels."
            )
        self.image_size = image_size
        self.num_age_groups = num_age_groups
        self.base_channels = base_channels
        self.max_channels = max_channels
        self.encoder_downsamples = encoder_downsamples
        self.encoder_residual_blocks = encoder_residual_blocks
        self.modulator_downsamples = modulator_downsamples
        self.age_code_dim = age_code_dim
        self.decoder_blocks = decoder_blocks
        self.sync_batch_norm = sync_batch_norm
        self.decoder_upsampling = decoder_upsampling
        self.paste_background = paste_background
        self.decoder_skips = decoder_skips
        self.decoder_modulation = decoder_modulation

        self.identity_encoder = IdentityEncoder(
            base_channels,
            max_channels,
            downsamples=encoder_downsamples,
            residual_blocks=encoder_residual_blocks,
            dtype=self.dtype_policy,
            name="identity_encoder",
        )
        self.age_modulator = AgeModulator(
            num_age_groups,
            channels=max_channels,
            downsamples=modulator_downsamples,
            age_code_dim=age_code_dim,
            sync_batch_norm=sync_batch_norm,
            dtype=self.dtype_policy,
            name="age_modulator",
        )
        self.decoder = Decoder(
            base_channels,
            max_channels,
            upsamples=encoder_downsamples,
            bottleneck_blocks=decoder_blocks,
            upsampling=decoder_upsampling,
            skips=decoder_skips,
            modulation=decoder_modulation,
            dtype=self.dtype_policy,
            name="decoder",
        )
        self.build((None, image_size, image_size, 3), (None, image_size, image_size, 1), (None,))

    def build(self, image_shape, face_mask_shape, target_age_shape):
        self.identity_encoder.build(image_shape, face_mask_shape)
        identity_features_shape, image_features_shape = self.identity_encoder.compute_output_shape(
            image_shape, face_mask_shape
        )
        self.age_modulator.build(identity_features_shape, target_age_shape)
        self.decoder.build(
            identity_features_shape, (image_shape[0], self.age_code_dim), image_features_shape, face_mask_shape
        )

    def call(self, image, face_mask, target_age, training=None):
        encoded = self.identity_encoder.encode(image, face_mask, training=training)
        return self._render(image, face_mask, encoded, target_age, training)

    def age_sweep(self, image, face_mask, target_ages, training=False):
        """Every face at every one of `target_ages` ([A] group indices or [A, G] weights):
        [B, A, S, S, 3]. The identity encoder, which does not read the age, runs once per
        face; the age modulator and the decoder run on all B * A (face, age) pairs as one
        batch. Equal to `call` on the repeated faces (a test checks it)."""
        faces, ages = ops.shape(image)[0], ops.shape(target_ages)[0]
        identity_features, image_features, skips = self.identity_encoder.encode(image, face_mask, training=training)
        encoded = tuple(ops.repeat(value, ages, axis=0) for value in (identity_features, image_features)) + (
            [ops.repeat(skip, ages, axis=0) for skip in skips] if self.decoder_skips else [],)
        aged = self._render(ops.repeat(image, ages, axis=0), ops.repeat(face_mask, ages, axis=0), encoded,
                            tile_ages(target_ages, faces), training)
        return ops.reshape(aged, (faces, ages, *ops.shape(aged)[1:]))

    def _render(self, image, face_mask, encoded, target_age, training):
        """Age modulator and decoder on the identity encoder's `(f_id, image features, skips)`."""
        identity_features, image_features, skips = encoded
        age_code = self.age_modulator(identity_features, target_age, training=training)
        output = self.decoder(identity_features, age_code, image_features, face_mask, training=training,
                              skips=skips if self.decoder_skips else None)
        if not self.paste_background:
            return output
        mask = ops.cast(face_mask, output.dtype)
        return mask * output + (1.0 - mask) * ops.cast(image, output.dtype)

    def age_code(self, image, face_mask, target_age, training=None):
        """The age code f_aw [B, age_code_dim] that the decoder would receive."""
        identity_features, _ = self.identity_encoder(image, face_mask, training=training)
        return self.age_modulator(identity_features, target_age, training=training)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_size": self.image_size,
                "num_age_groups": self.num_age_groups,
                "base_channels": self.base_channels,
                "max_channels": self.max_channels,
                "encoder_downsamples": self.encoder_downsamples,
                "encoder_residual_blocks": self.encoder_residual_blocks,
                "modulator_downsamples": self.modulator_downsamples,
                "age_code_dim": self.age_code_dim,
                "decoder_blocks": self.decoder_blocks,
                "sync_batch_norm": self.sync_batch_norm,
                "decoder_upsampling": self.decoder_upsampling,
                "paste_background": self.paste_background,
                "decoder_skips": self.decoder_skips,
                "decoder_modulation": self.decoder_modulation,
            }
        )
        return config
