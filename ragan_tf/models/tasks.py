"""The two task contracts every model family's exported network implements.

Export, evaluation, training grids and the `age` command speak these
contracts, never a family's name (keras-hub's task idea):

- `AgeTransformer`: `model(image, face_mask, target_age, training=False)`
  -> aged image. `image` float [B, S, S, 3] in [-1, 1]; `face_mask` float
  [B, S, S, 1] (1 = face; families that do not use it ignore it);
  `target_age` int [B] age-group indices or float [B, G] weights over the
  age groups (one-hot at a group; mixtures give continuous ages). RAGAN, the
  encoder + conditional DCGAN, Age-cGAN and the conditional VAE are age
  transformers.
- `Sampler`: `model(noise, target_age=None, training=False)` -> image.
  `noise` float [B, noise_dim]; `target_age` as above for a conditional
  sampler (`num_age_groups` > 0), None for an unconditional one. DCGAN, the
  vanilla GAN and the conditional generators are samplers.

Both carry `image_size` and `num_age_groups`. An age transformer whose
family also samples (the encoder + conditional DCGAN's generator) names
that network in its `sampler` property, so one export serves both.
"""

from keras import backend, ops


def age_condition(target_age, num_age_groups):
    """A contract's `target_age` as float32 weights [B, G]: int group indices become one-hot
    rows, float weights pass through (mixtures of neighbouring groups give continuous ages)."""
    if backend.standardize_dtype(target_age.dtype).startswith("int"):
        return ops.one_hot(target_age, num_age_groups)
    return ops.cast(target_age, "float32")


class AgeTransformer:
    """Mixin marking a Keras model as an age transformer (see the module docstring)."""

    task = "age_transformer"

    def age_faces(self, image, face_mask, target_age, **source):
        """The contract's call on NumPy arrays, outside any graph (evaluation, training grids).
        Age-cGAN overrides it with its scipy L-BFGS-B latent optimisation."""
        return self(image, face_mask, target_age, training=False, **source)

    def age_sweep(self, image, face_mask, target_ages, training=False, **source):
        """Every face at every one of `target_ages`: [B, A, S, S, 3].

        `image` [B, S, S, 3] and `face_mask` [B, S, S, 1] as in the contract; `target_ages`
        [A] int group indices or [A, G] weights, the same A ages for every face; `source`
        (a family's `source_age`, `gender`) [B]. This default runs the network on every
        (face, age) pair as one batch of B * A; a family whose network has an age-independent
        part overrides it to compute that part once per face (RAGAN: `Generator.age_sweep`).
        """
        faces, ages = ops.shape(image)[0], ops.shape(target_ages)[0]
        pairs = {name: ops.repeat(value, ages, axis=0) for name, value in source.items()}
        aged = self(ops.repeat(image, ages, axis=0), ops.repeat(face_mask, ages, axis=0),
                    tile_ages(target_ages, faces), training=training, **pairs)
        return ops.reshape(aged, (faces, ages, *ops.shape(aged)[1:]))

    @property
    def sampler(self):
        """The `Sampler` this family also provides, or None."""
        return None


def tile_ages(target_ages, faces):
    """The contract's `target_age` for B faces x A ages, face-major (the order of
    `ops.repeat(image, A, axis=0)`): `target_ages` [A] or [A, G] tiled B times."""
    reps = (faces,) + (1,) * (len(ops.shape(target_ages)) - 1)
    return ops.tile(target_ages, reps)


class Sampler:
    """Mixin marking a Keras model as a sampler (see the module docstring).

    Subclasses set `noise_dim` and `num_age_groups` (0 = unconditional).
    """

    task = "sampler"

    @property
    def conditional(self):
        return self.num_age_groups > 0


def tasks_of(model):
    """`{"age_transformer": model or None, "sampler": model or None}` for an exported network."""
    transformer = model if isinstance(model, AgeTransformer) else None
    sampler = model if isinstance(model, Sampler) else getattr(transformer, "sampler", None)
    if transformer is None and sampler is None:
        raise TypeError(
            f"{type(model).__name__} implements neither contract of ragan_tf.models.tasks "
            "(AgeTransformer, Sampler)."
        )
    return {"age_transformer": transformer, "sampler": sampler}


def task_names(model):
    """The contract names an exported network serves, e.g. `["age_transformer", "sampler"]`."""
    return [name for name, network in tasks_of(model).items() if network is not None]
