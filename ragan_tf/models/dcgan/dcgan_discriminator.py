"""DCGAN's discriminator (Radford et al. 2016; seed 003), optionally age-conditioned (seed 000)."""

import keras
from keras import ops

from ragan_tf.layers.precision import output_dtype
from ragan_tf.models.dcgan.dcgan_generator import dcgan_batch_norm, dcgan_initializer
from ragan_tf.models.tasks import age_condition

ACTIVATIONS = ("leaky_relu", "relu")


@keras.saving.register_keras_serializable(package="ragan_tf.dcgan")
class DCGANDiscriminator(keras.Model):
    """Image -> 4x4 stride-2 convolutions down to 4x4 -> flattened -> one real/fake logit.

    Channels double from `base_channels` at each convolution; batch norm
    follows every convolution except the first (the discriminator's input
    layer); LeakyReLU 0.2 (DCGAN) or ReLU (seed 000's conditional
    discriminator). The logit is float32 under mixed precision (the sigmoid
    lives in the loss). With `num_age_groups` > 0 the one-hot age group is
    broadcast to feature maps and concatenated after the first convolution
    (seed 000 concatenates it "to the convolution layer"; which one is ours).

    Args:
        image_size: input height and width, a power of two >= 8.
        num_age_groups: 0 (unconditional) or the number of groups.
        base_channels: channels of the first convolution.
        activation: `leaky_relu` or `relu`.
        sync_batch_norm: batch statistics across replicas.
        **kwargs: other `keras.Model` arguments.

    Example:
    ```python
    discriminator = DCGANDiscriminator(64, base_channels=128)
    logits = discriminator(images)  # [B]
    ```
    """

    def __init__(self, image_size, num_age_groups=0, base_channels=128, activation="leaky_relu",
                 sync_batch_norm=False, **kwargs):
        super().__init__(**kwargs)
        downsamples = image_size.bit_length() - 3
        if image_size < 8 or 4 * 2**downsamples != image_size:
            raise ValueError(f"DCGANDiscriminator needs a power-of-two image_size >= 8, got {image_size}.")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}.")
        self.image_size = image_size
        self.num_age_groups = num_age_groups
        self.base_channels = base_channels
        self.activation = activation
        self.sync_batch_norm = sync_batch_norm

        dtype = self.dtype_policy
        self.convolutions = [
            keras.layers.Conv2D(base_channels * 2**index, 4, strides=2, padding="same", use_bias=index == 0,
                                kernel_initializer=dcgan_initializer(), dtype=dtype, name=f"down_{index}")
            for index in range(downsamples)
        ]
        self.norms = [dcgan_batch_norm(sync_batch_norm, dtype, f"down_{index}_norm") for index in range(1, downsamples)]
        self.flatten = keras.layers.Flatten(dtype=dtype, name="flatten")
        self.classifier = keras.layers.Dense(1, kernel_initializer=dcgan_initializer(), dtype=output_dtype(dtype), name="logit")
        self.build((None, image_size, image_size, 3))

    def build(self, image_shape, age_group_shape=None):
        shape = image_shape
        for index, layer in enumerate(self.convolutions):
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
            if index == 0:
                shape = (*shape[:-1], shape[-1] + self.num_age_groups)
            else:
                self.norms[index - 1].build(shape)
        self.classifier.build((shape[0], shape[1] * shape[2] * shape[3]))

    def _activate(self, x):
        return ops.leaky_relu(x, 0.2) if self.activation == "leaky_relu" else ops.relu(x)

    def call(self, image, age_group=None, training=None):
        x = self._activate(self.convolutions[0](image))
        if self.num_age_groups:
            if age_group is None:
                raise ValueError("This DCGANDiscriminator is conditional: pass age_group.")
            condition = ops.cast(age_condition(age_group, self.num_age_groups), x.dtype)[:, None, None, :]
            x = ops.concatenate([x, ops.broadcast_to(condition, (*ops.shape(x)[:3], self.num_age_groups))], axis=-1)
        for layer, norm in zip(self.convolutions[1:], self.norms):
            x = self._activate(norm(layer(x), training=training))
        return self.classifier(self.flatten(x))[:, 0]

    def get_config(self):
        config = super().get_config()
        config.update({
            "image_size": self.image_size,
            "num_age_groups": self.num_age_groups,
            "base_channels": self.base_channels,
            "activation": self.activation,
            "sync_batch_norm": self.sync_batch_norm,
        })
        return config
