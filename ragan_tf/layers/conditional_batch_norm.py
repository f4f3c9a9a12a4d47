"""Conditional batch normalization: the age modulator's way of reading the target age."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="ragan_tf.layers")
class ConditionalBatchNorm(keras.layers.Layer):
    """Batch normalization whose scale and offset are looked up per class.

    `out = gamma(c) * BN(x) + beta(c)` where `BN` has no affine transform of
    its own and `gamma(c)`, `beta(c)` are rows of two learned tables
    (SNGAN / projection-discriminator style; gamma initialised to ones, beta
    to zeros). The class enters as a weight vector over classes and the rows
    are mixed linearly, `gamma(c) = c @ gamma_table`: a one-hot vector picks
    one class, weights such as `(0.5, 0.5)` interpolate between two
    neighbouring age groups. Integer class ids are accepted and one-hot
    encoded.

    Args:
        num_classes: number of classes (age groups).
        momentum: moving-average momentum of the batch statistics (Keras
            convention: 1 - PyTorch's momentum).
        epsilon: added to the variance.
        synchronized: compute batch statistics across replicas of a
            `tf.distribute` strategy.
        **kwargs: other `keras.layers.Layer` arguments (`name`, `dtype`).

    Example:
    ```python
    cbn = ConditionalBatchNorm(num_classes=10)
    features = keras.random.normal((4, 8, 8, 64))
    by_id = cbn(features, ops.array([0, 3, 9, 9]), training=True)
    between_groups = cbn(features, ops.array([[0.5, 0.5] + [0.0] * 8] * 4))
    ```
    """

    def __init__(self, num_classes, momentum=0.99, epsilon=1e-5, synchronized=False, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.momentum = momentum
        self.epsilon = epsilon
        self.synchronized = synchronized
        self.batch_norm = keras.layers.BatchNormalization(
            momentum=momentum,
            epsilon=epsilon,
            center=False,
            scale=False,
            synchronized=synchronized,
            dtype=self.dtype_policy,
            name="batch_norm",
        )

    def build(self, input_shape):
        channels = input_shape[-1]
        self.batch_norm.build(input_shape)
        self.gamma_table = self.add_weight(
            shape=(self.num_classes, channels), initializer="ones", name="gamma_table"
        )
        self.beta_table = self.add_weight(
            shape=(self.num_classes, channels), initializer="zeros", name="beta_table"
        )

    def call(self, inputs, class_weights, training=None):
        if "int" in keras.backend.standardize_dtype(class_weights.dtype):
            class_weights = ops.one_hot(class_weights, self.num_classes, dtype=self.compute_dtype)
        class_weights = ops.cast(class_weights, self.compute_dtype)
        channels = ops.shape(inputs)[-1]
        gamma = ops.reshape(ops.matmul(class_weights, self.gamma_table), (-1, 1, 1, channels))
        beta = ops.reshape(ops.matmul(class_weights, self.beta_table), (-1, 1, 1, channels))
        return gamma * self.batch_norm(inputs, training=training) + beta

    def compute_output_shape(self, inputs_shape, class_weights_shape):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "momentum": self.momentum,
                "epsilon": self.epsilon,
                "synchronized": self.synchronized,
            }
        )
        return config
