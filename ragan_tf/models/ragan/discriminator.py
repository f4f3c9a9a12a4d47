"""RAGAN's discriminator D: one real/fake logit per age group (StarGAN v2 / LATS design)."""

import keras
from keras import ops

from ragan_tf.layers import ResidualBlock
from ragan_tf.layers.precision import output_dtype


@keras.saving.register_keras_serializable(package="ragan_tf.ragan")
class Discriminator(keras.Model):
    """Multi-task discriminator: a shared trunk and one real/fake output per age group.

    A 3x3 convolution, then residual blocks without normalization, each
    halving the resolution and doubling the channels up to `max_channels`,
    until the map is smaller than 8x8 (4x4 for power-of-two sizes); then
    LeakyReLU, a convolution covering the whole remaining map, LeakyReLU and
    a 1x1 convolution to `num_age_groups` logits (float32 under mixed
    precision). `call` returns the logit of each example's own age group,
    the only one its loss uses; `all_logits` returns all of them.

    With `age_classifier=True` (ours, not the paper's: StarGAN / AC-GAN's
    auxiliary classifier) a second 1x1 convolution on the same features
    gives age-group classification logits (`logits_and_age_logits`).

    The model is built on construction, so its variables exist before `fit`.

    Args:
        image_size: height and width of the images (at least 8).
        num_age_groups: number of age groups (outputs).
        base_channels: channels of the first convolution.
        max_channels: cap on the channels of the residual blocks.
        age_classifier: add the auxiliary age-group classification head.
        **kwargs: other `keras.Model` arguments (`name`, `dtype`).

    Example:
    ```python
    discriminator = Discriminator(image_size=256, num_age_groups=10)
    logits = discriminator(images, age_groups)  # [B]
    every_group = discriminator.all_logits(images)  # [B, 10]
    ```
    """

    def __init__(self, image_size, num_age_groups, base_channels=64, max_channels=512, age_classifier=False, **kwargs):
        super().__init__(**kwargs)
        if image_size < 8:
            raise ValueError(f"The discriminator needs image_size >= 8, got {image_size}.")
        self.image_size = image_size
        self.num_age_groups = num_age_groups
        self.base_channels = base_channels
        self.max_channels = max_channels

        self.stem = keras.layers.Conv2D(base_channels, 3, padding="same", dtype=self.dtype_policy, name="stem")
        self.blocks = []
        size, channels = image_size, base_channels
        while size >= 8:
            channels = min(channels * 2, max_channels)
            name = f"down_block_{len(self.blocks)}"
            self.blocks.append(ResidualBlock(channels, norm="none", resample="down", dtype=self.dtype_policy, name=name))
            size //= 2
        self.activation = keras.layers.LeakyReLU(0.2, dtype=self.dtype_policy, name="activation")
        self.head = keras.layers.Conv2D(channels, size, padding="valid", dtype=self.dtype_policy, name="head")
        self.classifier = keras.layers.Conv2D(num_age_groups, 1, dtype=output_dtype(self.dtype_policy), name="classifier")
        self.age_classifier = None
        if age_classifier:
            self.age_classifier = keras.layers.Conv2D(
                num_age_groups, 1, dtype=output_dtype(self.dtype_policy), name="age_classifier"
            )
        self.build((None, image_size, image_size, 3), (None,))

    def build(self, image_shape, age_group_shape):
        self.stem.build(image_shape)
        shape = (*image_shape[:-1], self.base_channels)
        for block in self.blocks:
            block.build(shape)
            shape = block.compute_output_shape(shape)
        self.activation.build(shape)
        self.head.build(shape)
        self.classifier.build((shape[0], 1, 1, shape[-1]))
        if self.age_classifier is not None:
            self.age_classifier.build((shape[0], 1, 1, shape[-1]))

    def _features(self, image, training):
        x = self.stem(image)
        for block in self.blocks:
            x = block(x, training=training)
        return self.activation(self.head(self.activation(x)))

    def _flat(self, head, features):
        return ops.reshape(head(features), (-1, self.num_age_groups))

    @staticmethod
    def _own_group(logits, age_group):
        age_group = ops.expand_dims(ops.cast(age_group, "int32"), axis=-1)
        return ops.take_along_axis(logits, age_group, axis=1)[:, 0]

    def all_logits(self, image, training=None):
        """Real/fake logits of every age group, float32 [B, num_age_groups]."""
        return self._flat(self.classifier, self._features(image, training))

    def logits_and_age_logits(self, image, age_group, training=None):
        """`(call(image, age_group), age-group classification logits [B, num_age_groups])`
        from one pass through the trunk (needs `age_classifier=True`)."""
        if self.age_classifier is None:
            raise ValueError("This discriminator has no age classifier (build it with age_classifier=True).")
        features = self._features(image, training)
        return (self._own_group(self._flat(self.classifier, features), age_group),
                self._flat(self.age_classifier, features))

    def call(self, image, age_group, training=None):
        return self._own_group(self.all_logits(image, training=training), age_group)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_size": self.image_size,
                "num_age_groups": self.num_age_groups,
                "base_channels": self.base_channels,
                "max_channels": self.max_channels,
                "age_classifier": self.age_classifier is not None,
            }
        )
        return config
