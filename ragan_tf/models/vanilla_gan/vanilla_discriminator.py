"""The vanilla GAN's discriminator (seed 003, Fig. 2b)."""

import keras
from keras import ops
from ragan_tf.layers.precision import output_dtype


@keras.saving.register_keras_serializable(package="ragan_tf.vanilla_gan")
class VanillaDiscriminator(keras.Model):
    """Flattened image -> dense 512 -> dense 256 -> dense 1 (the logit; the sigmoid is in the loss).

    Seed 003 names the widths and the sigmoid output; the hidden activation
    is ours: LeakyReLU 0.2, as in its DCGAN.

    Args:
        image_size: input height and width.
        units: hidden layer widths (512, 256).
        **kwargs: other `keras.Model` arguments.
    """

    def __init__(self, image_size, units=(512, 256), **kwargs):
        super().__init__(**kwargs)
        self.image_size = image_size
        self.units = tuple(units)
        dtype = self.dtype_policy
        self.flatten = keras.layers.Flatten(dtype=dtype, name="flatten")
        self.hidden = [keras.layers.Dense(width, dtype=dtype, name=f"dense_{index}")
                       for index, width in enumerate(self.units)]
        self.classifier = keras.layers.Dense(1, dtype=output_dtype(dtype), name="logit")
        self.build((None, image_size, image_size, 3))

    def build(self, image_shape, age_group_shape=None):
        width = image_shape[1] * image_shape[2] * image_shape[3]
        for layer in self.hidden:
            layer.build((image_shape[0], width))
            width = layer.units
        self.classifier.build((image_shape[0], width))

    def call(self, image, age_group=None, training=None):
        x = self.flatten(image)
        for layer in self.hidden:
            x = ops.leaky_relu(layer(x), 0.2)
        return self.classifier(x)[:, 0]

    def get_config(self):
        config = super().get_config()
        config.update({"image_size": self.image_size, "units": list(self.units)})
        return config
