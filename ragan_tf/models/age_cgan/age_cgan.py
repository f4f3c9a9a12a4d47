"""Age-cGAN (Antipov, Baccouche, Dugelay 2017; seed 001): the training model and the age transformer.

Training, in one `fit` (the phases of `EncoderConditionalDCGAN`):

1. `gan`: the conditional GAN, G(z, y) and D(x, y), y the one-hot age
   category (6 groups: `data.age_groups: age_cgan`), min_G max_D of
   log D(x, y) + log(1 - D(G(z, y), y)) (non-saturating G loss);
2. `encoder`: the generator frozen, E minimises ||E(G(z_i, y_i)) - z_i||^2
   over a fixed synthetic set of `encoder_pairs` pairs (the paper: 100K);
   pair i is drawn from a stateless seed of i, so the set is fixed without
   being stored.

Aging a face x of age group y0 to y' (`AgeCGANAger`): z0 = E(x), then
optionally the latent optimisation of `latent_optimization` (pixelwise or
identity-preserving, y0 fixed), then G(z*, y').
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from ragan_tf.models import face_recognition_resnet  # noqa: F401  (registers the identity network for loading)
from ragan_tf.models import training_helpers as helpers
from ragan_tf.models.age_cgan import latent_optimization
from ragan_tf.models.encoder_cdcgan.encoder_conditional_dcgan import EncoderConditionalDCGAN
from ragan_tf.models.network_config import networks_config, with_networks
from ragan_tf.models.tasks import AgeTransformer


@keras.saving.register_keras_serializable(package="ragan_tf.age_cgan")
class AgeCGANAger(AgeTransformer, keras.Model):
    """Ages a face as G(z*, y'), z* = E(x) refined by latent optimisation: an `AgeTransformer`.

    `ager(image, face_mask, target_age, source_age=None, gender=None)`: with
    the face's own age group (`source_age`, indices or weights) and
    `latent_iterations` > 0, z0 = E(x) is refined by that many in-graph Adam
    steps on `latent_objective` before decoding (the path SavedModels serve);
    without a source age, or with 0 iterations, z = E(x). `age_faces` is the
    NumPy path that uses `latent_optimizer` (scipy's L-BFGS-B, the paper's, or
    Adam). The face mask and gender are accepted and unused.

    Args:
        encoder: an `AgeCGANEncoder`.
        generator: an `AgeCGANGenerator` (the EMA copy in training).
        identity_network: a face-recognition network, images in [-1, 1] ->
            embeddings (`FaceRecognitionEmbedding`), or None: only the pixel
            objective is available.
        latent_objective: "identity" (needs `identity_network`) or "pixel".
        latent_optimizer: "lbfgsb" or "adam" (for `age_faces`).
        latent_iterations: iterations of the optimisation (0: encoder only).
        latent_tolerance: L-BFGS-B's `ftol` and `gtol`.
        latent_learning_rate: Adam's step.
    """

    #: Exports serve `with_source` (the optimisation keeps the face's own age group fixed).
    takes_source = True
    #: Exports also serve `with_latent_optimization` (a flag and an iteration budget).
    optimizes_latent = True

    def __init__(self, encoder, generator, identity_network=None, latent_objective="identity",
                 latent_optimizer="lbfgsb", latent_iterations=0, latent_tolerance=1e-6, latent_learning_rate=0.05,
                 **kwargs):
        super().__init__(**kwargs)
        if latent_objective not in latent_optimization.OBJECTIVES:
            raise ValueError(f"latent_objective must be one of {latent_optimization.OBJECTIVES}; "
                             f"got {latent_objective!r}.")
        if latent_objective == "identity" and identity_network is None:
            raise ValueError("latent_objective 'identity' needs an identity_network.")
        if latent_optimizer not in latent_optimization.OPTIMIZERS:
            raise ValueError(f"latent_optimizer must be one of {latent_optimization.OPTIMIZERS}; "
                             f"got {latent_optimizer!r}.")
        self.encoder, self.generator, self.identity_network = encoder, generator, identity_network
        if identity_network is not None:
            identity_network.trainable = False
        self.latent_objective, self.latent_optimizer = latent_objective, latent_optimizer
        self.latent_iterations, self.latent_tolerance = int(latent_iterations), float(latent_tolerance)
        self.latent_learning_rate = float(latent_learning_rate)
        self.image_size = generator.image_size
        self.num_age_groups = generator.num_age_groups
        self.noise_dim = generator.noise_dim
        self.built = True
        self._latent_cache = {}

    @property
    def sampler(self):
        return self.generator

    @property
    def has_identity_network(self):
        return self.identity_network is not None

    def objective(self, image, source_age, identity_preserving):
        """The per-face objective `f(z) -> [B]` (`identity_preserving`: a Python bool)."""
        if identity_preserving:
            if self.identity_network is None:
                raise ValueError("This Age-cGAN has no identity network: use the pixel objective.")
            return latent_optimization.identity_objective(self.generator, self.identity_network, image, source_age)
        return latent_optimization.pixel_objective(self.generator, image, source_age)

    def refined_latent(self, image, source_age, iterations, identity_preserving):
        """z0 = E(x) after `iterations` Adam steps (graph ops; `iterations` and
        `identity_preserving` may be tensors)."""
        latent = self.encoder(image, training=False)

        def refine(identity):
            return latent_optimization.adam_steps(self.objective(image, source_age, identity), latent, iterations,
                                                  self.latent_learning_rate)

        if self.identity_network is None:
            return refine(False)
        if isinstance(identity_preserving, bool):
            return refine(identity_preserving)
        return tf.cond(tf.cast(identity_preserving, tf.bool), lambda: refine(True), lambda: refine(False))

    def decode(self, latent, target_age, training=None):
        """G(z, y')."""
        return self.generator(latent, target_age, training=training)

    def call(self, image, face_mask, target_age, source_age=None, gender=None, training=None):
        if source_age is None or self.latent_iterations == 0:
            latent = self.encoder(image, training=training)
        else:
            latent = self.refined_latent(image, source_age, self.latent_iterations,
                                         self.latent_objective == "identity")
        return self.decode(latent, target_age, training=training)

    def optimize(self, images, source_age, objective=None, optimizer=None, iterations=None):
        """`LatentResult` of the configured (or given) optimisation of E(x) for float images in
        [-1, 1] [B, S, S, 3] of age groups `source_age` (indices or weights)."""
        images = tf.constant(np.asarray(images, np.float32))
        objective = self.latent_objective if objective is None else objective
        function = self.objective(images, tf.constant(np.asarray(source_age)), objective == "identity")
        return latent_optimization.optimize_latent(
            function, self.encoder(images, training=False), self.latent_optimizer if optimizer is None else optimizer,
            self.latent_iterations if iterations is None else iterations, self.latent_tolerance,
            self.latent_learning_rate)

    def age_faces(self, images, face_mask, target_age, source_age=None, gender=None):
        """NumPy path of `call`: z* from `optimize` (L-BFGS-B by default), remembered for the
        last batches so that aging the same faces to every group optimises once."""
        images = np.asarray(images, np.float32)
        if source_age is None or self.latent_iterations == 0:
            latent = self.encoder(images, training=False)
        else:
            source_age = np.asarray(source_age)
            key = (images.tobytes(), source_age.tobytes())
            if key not in self._latent_cache:
                if len(self._latent_cache) >= 8:
                    self._latent_cache.pop(next(iter(self._latent_cache)))
                self._latent_cache[key] = self.optimize(images, source_age).latent
            latent = self._latent_cache[key]
        return np.asarray(self.generator(latent, np.asarray(target_age), training=False))

    def get_config(self):
        names = ("encoder", "generator") + (("identity_network",) if self.identity_network is not None else ())
        return {**super().get_config(), **networks_config(self, names),
                "latent_objective": self.latent_objective, "latent_optimizer": self.latent_optimizer,
                "latent_iterations": self.latent_iterations, "latent_tolerance": self.latent_tolerance,
                "latent_learning_rate": self.latent_learning_rate}

    @classmethod
    def from_config(cls, config):
        names = ("encoder", "generator") + (("identity_network",) if config.get("identity_network") else ())
        return cls(**with_networks(config, names))


@keras.saving.register_keras_serializable(package="ragan_tf.age_cgan")
class AgeCGAN(EncoderConditionalDCGAN):
    """The Age-cGAN training model: the conditional GAN, then the encoder on a fixed pair set.

    Args:
        generator: an `AgeCGANGenerator`.
        discriminator: a conditional `DCGANDiscriminator` (batch norm except the first block; the
            age condition concatenated after the first convolution).
        encoder: an `AgeCGANEncoder`.
        encoder_pairs: size of the fixed synthetic (G(z, y), z) set (0: fresh pairs every step).
        ager_options: `AgeCGANAger` keyword arguments (identity network, latent optimisation).
        ema_decay, seed: as for `GAN`.
    """

    def __init__(self, generator, discriminator, encoder, encoder_pairs=100_000, ager_options=None, ema_decay=0.0,
                 seed=0, **kwargs):
        self.encoder_pairs = int(encoder_pairs)
        self.ager_options = dict(ager_options or {})  # read by `make_ager` inside the base constructor
        super().__init__(generator, discriminator, encoder, ema_decay=ema_decay, seed=seed, **kwargs)

    def make_ager(self):
        return AgeCGANAger(self.encoder, self.generator_ema, name="ager", **self.ager_options)

    def synthetic_pair(self, indices):
        """(z_i, y_i) of the fixed pair set for int32 indices [B]: stateless draws seeded by i."""
        noise_dim, groups = self.generator.noise_dim, self.generator.num_age_groups
        noise_seeds = tf.stack([tf.fill(tf.shape(indices), self.seed + 4), indices], axis=-1)
        noise = tf.map_fn(lambda s: tf.random.stateless_normal([noise_dim], seed=s), noise_seeds,
                          fn_output_signature=tf.float32)
        group_seeds = tf.stack([tf.fill(tf.shape(indices), self.seed + 5), indices], axis=-1)
        groups = tf.map_fn(
            lambda s: tf.random.stateless_uniform([], seed=s, maxval=groups, dtype=tf.int32),
            group_seeds, fn_output_signature=tf.int32)
        return noise, groups

    def draw_pairs(self, batch_size, data, seed=None):
        if self.encoder_pairs == 0 or data.get("encoder_noise") is not None:
            return super().draw_pairs(batch_size, data, seed)
        seed = self.pair_seed_generator if seed is None else seed
        indices = helpers.replica_draw(
            lambda shape, s: keras.random.randint(shape, 0, self.encoder_pairs, dtype="int32", seed=s),
            (batch_size,), seed)
        noise, groups = self.synthetic_pair(indices)
        return ops.stop_gradient(self.generator_ema(noise, groups, training=False)), noise, groups

    def get_config(self):
        options = dict(self.ager_options)
        if options.get("identity_network") is not None:
            options["identity_network"] = keras.saving.serialize_keras_object(options["identity_network"])
        return {**super().get_config(), "encoder_pairs": self.encoder_pairs, "ager_options": options}

    @classmethod
    def from_config(cls, config):
        config = with_networks(config, cls.NETWORKS)
        options = dict(config.pop("ager_options", None) or {})
        if options.get("identity_network") is not None:
            options["identity_network"] = keras.saving.deserialize_keras_object(options["identity_network"])
        return cls(ager_options=options, **config)
