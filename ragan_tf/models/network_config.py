"""`get_config` / `from_config` of Keras models built from other networks (training models, agers)."""

import keras


def networks_config(model, names):
    """`{name: serialised network}` for the networks `model` holds as attributes `names`."""
    return {name: keras.saving.serialize_keras_object(getattr(model, name)) for name in names}


def with_networks(config, names):
    """A copy of `config` whose serialised networks `names` are rebuilt (for `from_config`)."""
    config = dict(config)
    for name in names:
        config[name] = keras.saving.deserialize_keras_object(config[name])
    return config
