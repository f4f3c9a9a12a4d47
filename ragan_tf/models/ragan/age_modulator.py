"""RAGAN's age modulator AM (paper Fig. 2): f_id and the target age -> age code f_aw."""

import keras

from ragan_tf.layers import CBNResidualBlock


@keras.saving.register_keras_serializable(package="ragan_tf.ragan")
class AgeModulator(keras.layers.Layer):
    """Maps identity features and a target age group to a compact age code.

    `downsamples` residual blocks, each halving the resolution, whose
    normalizations are conditional batch norms of the target age (the
    paper's three CBN downsampling blocks); then LeakyReLU, global average
    pooling and a dense layer give f_aw, which the decoder reads through
    AdaIN.

    The target age is either int32 group ids [B] or float class weights
    [B, num_age_groups] (one-hot, or weights between neighbouring groups for
    a continuous age).

    Args:
        num_age_groups: number of age groups.
        channels: channels of every block.
        downsamples: number of CBN downsampling blocks.
        age_code_dim: size of the age code f_aw.
        sync_batch_norm: batch statistics across the replicas of a strategy.
        **kwargs: other `keras.layers.Layer` arguments (`name`, `dtype`).

    Example:
    ```python
    modulator = AgeModulator(num_age_groups=10, channels=512)
    age_code = modulator(identity_features, target_age_groups, training=True)  # [B, 256]
    ```
    """

    def __init__(
        self, num_age_groups, channels=512, downsamples=3, age_code_dim=256, sync_batch_norm=False, **kwargs
    ):
        super().__init__(**kwargs)
        self.num_age_groups = num_age_groups
        self.channels = channels
        self.downsamples = downsamples
        self.age_code_dim = age_code_dim
        self.sync_batch_norm = sync_batch_norm
        self.blocks = [
            CBNResidualBlock(
                channels,
                num_age_groups,
                resample="down",
                synchronized=sync_batch_norm,
                dtype=self.dtype_policy,
                name=f"cbn_block_{i}",
            )
            for i in range(downsamples)
        ]
        self.activation = keras.layers.LeakyReLU(0.2, dtype=self.dtype_policy, name="activation")
        self.pool = keras.layers.GlobalAveragePooling2D(dtype=self.dtype_policy, name="pool")
        self.projection = keras.layers.Dense(age_code_dim, dtype=self.dtype_policy, name="projection")

    def build(self, identity_features_shape, target_age_shape):
        shape = identity_features_shape
        for block in self.blocks:
            block.build(shape)
            shape = block.compute_output_shape(shape)
        self.activation.build(shape)
        self.pool.build(shape)
        self.projection.build((shape[0], self.channels))

    def call(self, identity_features, target_age, training=None):
        x = identity_features
        for block in self.blocks:
            x = block(x, target_age, training=training)
        return self.projection(self.pool(self.activation(x)))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_age_groups": self.num_age_groups,
                "channels": self.channels,
                "downsamples": self.downsamples,
                "age_code_dim": self.age_code_dim,
                "sync_batch_norm": self.sync_batch_norm,
            }
        )
        return config
