"""An age regressor for the synthetic faces.

Real-photo age estimators are meaningless on cartoons, so transformed
synthetic faces are judged by a small CNN trained on exact renders. Train it
on identities other than the ones it will judge.
"""

import numpy as np

from ragan_tf.data import synthetic_faces


def cnn_trunk(image_size):
    """A CPU-sized CNN trunk: `(inputs, pooled_features)`.

    The 2x2 stride-2 stem keeps every input pixel (thin age lines matter) at a
    quarter of the cost of a full-resolution first layer. BatchNorm momentum
    0.9 makes the moving statistics usable after a few hundred steps.
    """
    import keras

    inputs = keras.Input((image_size, image_size, 3))

    def conv(x, filters, kernel=3, strides=1):
        x = keras.layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False)(x)
        return keras.layers.ReLU()(keras.layers.BatchNormalization(momentum=0.9)(x))

    x = conv(inputs, 24, kernel=2, strides=2)
    for filters in (24, 48, 96):
        x = conv(conv(x, filters), 2 * filters, strides=2)
    return inputs, keras.layers.GlobalAveragePooling2D()(x)


def cosine_decay_steps(samples, batch_size, epochs):
    """Steps of the cosine learning-rate decay of a `fit` over `samples` for `epochs`.

    Whole batches per epoch, but at least one: a set smaller than one batch
    (a few estimator identities) is still one step per epoch, so the rate
    decays over the steps `fit` runs instead of `decay_steps=0` refusing.
    """
    return int(epochs) * max(1, int(samples) // int(batch_size))


def build_age_regressor(image_size):
    """`cnn_trunk`, a dense layer, one output = age / MAX_AGE. Input in [-1, 1]."""
    import keras

    inputs, features = cnn_trunk(image_size)
    hidden = keras.layers.Dense(128, activation="relu")(features)
    return keras.Model(inputs, keras.layers.Dense(1)(hidden), name="synthetic_age_regressor")


def render_batch(pairs, image_size, seed=0):
    """Float32 images in [-1, 1] for `(identity, age)` pairs."""
    faces = synthetic_faces.render_faces(
        [int(identity) for identity, _ in pairs], [float(age) for _, age in pairs], image_size, seed
    )
    return faces.images.astype(np.float32) / 127.5 - 1.0


class SyntheticAgeRegressor:
    """Predicts ages (years) of synthetic faces with a trained `build_age_regressor` model.

    Args:
        model: the Keras regressor.
    """

    def __init__(self, model):
        self.model = model

    @classmethod
    def train(cls, image_size, identities, images_per_identity=8, epochs=12, batch_size=64, seed=0):
        """Trains on renders of `identities` at `images_per_identity` random ages each."""
        import keras

        keras.utils.set_random_seed(seed)
        pairs = [(identity, synthetic_faces.sample_age(identity, index, seed))
                 for identity in identities for index in range(images_per_identity)]
        images = render_batch(pairs, image_size, seed)
        ages = np.array([age for _, age in pairs], np.float32) / synthetic_faces.MAX_AGE
        model = build_age_regressor(image_size)
        steps = cosine_decay_steps(len(pairs), batch_size, epochs)
        model.compile(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(2e-3, steps)), loss="mae")
        model.fit(images, ages, batch_size=batch_size, epochs=epochs, verbose=0)
        return cls(model)

    def predict_ages(self, images):
        """Ages in years for float images in [-1, 1], [N, S, S, 3]."""
        return self.model.predict(np.asarray(images, np.float32), batch_size=256, verbose=0)[:, 0] * synthetic_faces.MAX_AGE
