"""The conditional beta-VAE of seed 004, trained with `fit`, and its two ways to age a face.

One step, with x a batch of faces, c = [age-group one-hot, gender one-hot]
(unknown gender: 0.5 / 0.5) and eps ~ N(0, I):

    mu, log_var = E(x, c);  z = mu + exp(log_var / 2) * eps;  x' = D(z, c)
    loss = ||x' - x||^2 + beta_t * KL(N(mu, exp(log_var)) || N(0, I))

summed over pixels (reconstruction) and latent dimensions (KL) and averaged
over the batch; beta_t = beta * min(1, step / beta_warmup_steps) (no warm-up
by default). Aging (`ConditionalVAEAger`) keeps the posterior mean mu:

- `condition`: D(mu, c_target): the age condition changed;
- `shift`: D(mu + m_target - m_source, c_source), m_g the mean of mu over the
  training faces of age group g (`compute_group_means`, stored in the ager);
  continuous ages mix the m_g with the contract's group weights.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from ragan_tf.data.normalization import image_to_model_range
from ragan_tf.models import training_helpers as helpers
from ragan_tf.models.adversarial_losses import full_precision
from ragan_tf.models.network_config import networks_config, with_networks
from ragan_tf.models.tasks import AgeTransformer, age_condition

AGING_MODES = ("condition", "shift")
GENDERS = 2


def kl_divergence(mu, log_variance):
    """KL(N(mu, exp(log_variance)) || N(0, I)) per example, summed over the latent dimensions."""
    mu, log_variance = full_precision(mu), full_precision(log_variance)
    return 0.5 * ops.sum(ops.exp(log_variance) + ops.square(mu) - 1.0 - log_variance, axis=-1)


def reparameterize(mu, log_variance, noise):
    """z = mu + sigma * noise: differentiable in mu and log_variance."""
    return mu + ops.exp(0.5 * log_variance) * ops.cast(noise, mu.dtype)


def gender_condition(gender, batch_size=None):
    """float32 [B, 2]: one-hot of gender 0 / 1; 0.5 / 0.5 where it is unknown (-1 or None)."""
    if gender is None:
        return ops.full((batch_size, GENDERS), 0.5)
    gender = ops.cast(gender, "int32")
    if len(gender.shape) == 2:
        return ops.cast(gender, "float32")
    known = ops.cast(ops.expand_dims(gender >= 0, -1), "float32")
    return known * ops.one_hot(ops.maximum(gender, 0), GENDERS) + (1.0 - known) * 0.5


def condition_vector(age, gender, num_age_groups, batch_size=None):
    """[age-group weights | gender one-hot]: float32 [B, G + 2]; an unknown age (None) is uniform."""
    if age is None:
        weights = ops.full((batch_size, num_age_groups), 1.0 / num_age_groups)
    else:
        weights = age_condition(age, num_age_groups)
        batch_size = ops.shape(weights)[0]
    return ops.concatenate([weights, gender_condition(gender, batch_size)], axis=-1)


@keras.saving.register_keras_serializable(package="ragan_tf.cvae")
class ConditionalVAEAger(AgeTransformer, keras.Model):
    """Ages a face with the conditional VAE: an `AgeTransformer`.

    `ager(image, face_mask, target_age, source_age=None, gender=None)`: the
    contract's arguments plus the face's own age (group indices or weights)
    and gender (0 male, 1 female, -1 unknown). Without a source age the
    encoder gets a uniform age condition and the shift starts from the mean
    of the group means; without a gender, 0.5 / 0.5. The face mask is
    accepted and unused: the VAE reconstructs the whole image.

    Args:
        encoder: a `CVAEEncoder`.
        decoder: a `CVAEDecoder`.
        num_age_groups: G.
        aging: "condition" or "shift" (see the module docstring).
    """

    #: Exports serve `with_source` (the face's own age and gender), which `ragan-tf age` fills.
    takes_source = True

    def __init__(self, encoder, decoder, num_age_groups, aging="condition", **kwargs):
        super().__init__(**kwargs)
        if aging not in AGING_MODES:
            raise ValueError(f"aging must be one of {AGING_MODES}; got {aging!r}.")
        self.encoder, self.decoder = encoder, decoder
        self.num_age_groups, self.aging = int(num_age_groups), aging
        self.image_size = encoder.image_size
        self.group_means = self.add_weight(shape=(self.num_age_groups, encoder.latent_dim), initializer="zeros",
                                           trainable=False, name="group_means")
        self.built = True

    def encode(self, image, source_age=None, gender=None):
        batch_size = ops.shape(image)[0]
        return self.encoder(image, condition_vector(source_age, gender, self.num_age_groups, batch_size))

    def call(self, image, face_mask, target_age, source_age=None, gender=None, training=None):
        batch_size = ops.shape(image)[0]
        mu, _ = self.encode(image, source_age, gender)
        if self.aging == "condition":
            return self.decoder(mu, condition_vector(target_age, gender, self.num_age_groups), training=training)
        source = (ops.full((batch_size, self.num_age_groups), 1.0 / self.num_age_groups) if source_age is None
                  else age_condition(source_age, self.num_age_groups))
        shift = ops.matmul(age_condition(target_age, self.num_age_groups) - source, self.group_means)
        condition = condition_vector(source_age, gender, self.num_age_groups, batch_size)
        return self.decoder(mu + ops.cast(shift, mu.dtype), condition, training=training)

    def get_config(self):
        return {**super().get_config(), **networks_config(self, ("encoder", "decoder")),
                "num_age_groups": self.num_age_groups, "aging": self.aging}

    @classmethod
    def from_config(cls, config):
        return cls(**with_networks(config, ("encoder", "decoder")))


def compute_group_means(ager, batches):
    """Sets `ager.group_means` to the mean posterior mean mu of each age group over `batches`
    (dicts with `image`, `age_group` and `gender`); groups without faces keep 0. Returns the counts."""
    sums = np.zeros(tuple(ager.group_means.shape), np.float64)
    counts = np.zeros(ager.num_age_groups, np.int64)
    for batch in batches:
        mu, _ = ager.encode(image_to_model_range(batch["image"]), batch["age_group"], batch["gender"])
        groups = np.asarray(batch["age_group"])
        np.add.at(sums, groups, np.asarray(mu, np.float64))
        counts += np.bincount(groups, minlength=ager.num_age_groups)
    ager.group_means.assign((sums / np.maximum(counts, 1)[:, None]).astype("float32"))
    return counts


@keras.saving.register_keras_serializable(package="ragan_tf.cvae")
class ConditionalVAE(keras.Model):
    """The seed 004 training model (see the module docstring).

    Trained with `fit` on batch dicts with `image` (float [-1, 1] or uint8),
    `age_group` int32 [B] and `gender` int32 [B] (-1 unknown); an optional
    `noise` float [B, latent_dim] replaces eps (tests compare runs with it).

    Args:
        encoder, decoder: `CVAEEncoder`, `CVAEDecoder`.
        num_age_groups: G.
        beta: weight of the KL term (the seed tunes it; 1 is the plain VAE).
        beta_warmup_steps: steps over which beta grows linearly from 0 (0: none).
        aging: the ager's mode.
        seed: seed of eps.
    """

    NETWORKS = ("encoder", "decoder")
    LOG_KEYS = ("loss", "reconstruction", "kl", "mse")
    VALIDATION_LOG_KEYS = ("loss", "reconstruction", "kl", "mse")

    def __init__(self, encoder, decoder, num_age_groups, beta=1.0, beta_warmup_steps=0, aging="condition", seed=0,
                 **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.num_age_groups, self.beta = int(num_age_groups), float(beta)
        self.beta_warmup_steps, self.aging, self.seed = int(beta_warmup_steps), aging, seed
        self.ager = ConditionalVAEAger(encoder, decoder, num_age_groups, aging=aging, name="ager")
        self.noise_seed_generator = keras.random.SeedGenerator(seed, name="noise_seed")
        self.trackers = helpers.LossTrackers(self.LOG_KEYS)
        self.built = True

    def compile(self, optimizer, **kwargs):
        """Sets and builds the optimizer; other keyword arguments go to `keras.Model.compile`."""
        super().compile(optimizer=None, **kwargs)
        self.vae_optimizer = optimizer
        self.build_optimizers()

    def build_optimizers(self):
        helpers.build_optimizers([(self.vae_optimizer, self)])

    @property
    def trainable_networks_variables(self):
        return self.encoder.trainable_variables + self.decoder.trainable_variables

    @property
    def metrics(self):
        return self.trackers.metrics

    @property
    def inference_model(self):
        return self.ager

    @property
    def train_step_count(self):
        return self.vae_optimizer.iterations

    def beta_at(self, step):
        """beta_t: beta, grown linearly from 0 over `beta_warmup_steps`."""
        if self.beta_warmup_steps <= 0:
            return ops.convert_to_tensor(self.beta, "float32")
        progress = ops.minimum(ops.cast(step, "float32") / float(self.beta_warmup_steps), 1.0)
        return self.beta * progress

    def _objective(self, data, training):
        images = image_to_model_range(data["image"])
        condition = condition_vector(data["age_group"], data["gender"], self.num_age_groups)
        mu, log_variance = self.encoder(images, condition, training=training)
        if training:
            noise = data.get("noise")
            if noise is None:
                noise = helpers.replica_draw(lambda shape, seed: keras.random.normal(shape, seed=seed),
                                             (ops.shape(images)[0], self.encoder.latent_dim), self.noise_seed_generator)
            z = reparameterize(mu, log_variance, noise)
        else:
            z = mu
        squared = ops.square(full_precision(self.decoder(z, condition, training=training)) - full_precision(images))
        reconstruction = ops.sum(squared, axis=(1, 2, 3))
        kl = kl_divergence(mu, log_variance)
        beta = ops.cast(self.beta_at(self.vae_optimizer.iterations), kl.dtype)
        return reconstruction + beta * kl, {"reconstruction": reconstruction, "kl": kl,
                                            "mse": ops.mean(squared, axis=(1, 2, 3))}

    def train_step(self, data):
        variables = self.trainable_networks_variables
        with tf.GradientTape() as tape:
            per_example, terms = self._objective(data, training=True)
            loss = self.vae_optimizer.scale_loss(helpers.global_mean(per_example))
        helpers.apply_gradients(self.vae_optimizer, tape, loss, variables)
        return self.trackers.update({"loss": ops.mean(per_example),
                                     **{name: ops.mean(value) for name, value in terms.items()}})

    def test_step(self, data):
        per_example, terms = self._objective(data, training=False)
        self.trackers.update({"loss": ops.mean(per_example), **{name: ops.mean(value) for name, value in terms.items()}})
        return self.trackers.results(self.VALIDATION_LOG_KEYS)

    def call(self, inputs):
        return self.ager(inputs["image"], None, inputs["target_age"], inputs.get("source_age"), inputs.get("gender"))

    def get_config(self):
        return {**super().get_config(), **networks_config(self, self.NETWORKS), "num_age_groups": self.num_age_groups,
                "beta": self.beta, "beta_warmup_steps": self.beta_warmup_steps, "aging": self.aging,
                "seed": self.seed}

    @classmethod
    def from_config(cls, config):
        return cls(**with_networks(config, cls.NETWORKS))
