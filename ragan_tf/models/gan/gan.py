"""The GAN training model: a sampler, its discriminator and an EMA copy, trained with `fit`.

One step, with x a batch of real images (of age groups y when the generator
is conditional) and z, z' fresh noise:

1. discriminator: minimise softplus(-D(x, y)) + softplus(D(G(z, y), y)) with
   G(z, y) detached;
2. generator: minimise softplus(-D(G(z', y), y));
3. EMA generator: ema <- decay * ema + (1 - decay) * G (decay 0: a copy).

The conditional generator and discriminator see the batch's own age groups,
so generated groups follow the data's group frequencies.
"""

import keras
import tensorflow as tf
from keras import ops

from ragan_tf.data.normalization import image_to_model_range
from ragan_tf.models import training_helpers as helpers
from ragan_tf.models.gan import losses
from ragan_tf.models.network_config import networks_config, with_networks


@keras.saving.register_keras_serializable(package="ragan_tf.gan")
class GAN(keras.Model):
    """Goodfellow et al.'s GAN with the non-saturating generator loss, for any `Sampler`.

    Trained with `fit` on batch dicts with `image` (float [-1, 1] or uint8)
    and, for a conditional generator, `age_group` int32 [B]; other keys are
    ignored. An optional `noise` float [B, noise_dim] replaces the random z
    of both updates (tests use it to compare runs that must see the same noise).

    Args:
        generator: a `Sampler`, `generator(noise, age_group or None, training)`.
        discriminator: `discriminator(image, age_group or None, training)` -> logits [B].
        ema_decay: decay of the EMA generator (0 = a copy of the generator).
        seed: seed of the noise draws.

    Example:
    ```python
    gan = GAN(DCGANGenerator(64), DCGANDiscriminator(64), ema_decay=0.0)
    gan.compile(*make_optimizer_pair(training_config))
    gan.fit(dataset, epochs=50)
    samples = gan.generator_ema(keras.random.normal((16, 100)))
    ```
    """

    NETWORKS = ("generator", "discriminator")
    LOG_KEYS = ("d_loss", "d_real", "d_fake", "g_loss")
    VALIDATION_LOG_KEYS = ("d_real", "d_fake", "g_loss")

    def __init__(self, generator, discriminator, ema_decay=0.0, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.ema_decay = ema_decay
        self.seed = seed
        self.conditional = generator.num_age_groups > 0

        noise, age_group = self._example_inputs()
        generator(noise, age_group, training=False)
        discriminator(ops.zeros((1, generator.image_size, generator.image_size, 3)), age_group, training=False)
        self.generator_ema = helpers.copy_network(generator, (noise, age_group))
        self.noise_seed_generator = keras.random.SeedGenerator(seed, name="noise_seed")
        self.generator_optimizer = None
        self.discriminator_optimizer = None
        self.trackers = helpers.LossTrackers(self.LOG_KEYS)
        self.built = True

    def _example_inputs(self):
        age_group = ops.zeros((1,), "int32") if self.conditional else None
        return ops.zeros((1, self.generator.noise_dim)), age_group

    def compile(self, generator_optimizer, discriminator_optimizer, **kwargs):
        """Sets and builds the optimizers; other keyword arguments go to `keras.Model.compile`."""
        super().compile(optimizer=None, **kwargs)
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer
        self.build_optimizers()

    def build_optimizers(self):
        helpers.build_optimizers(
            [(self.generator_optimizer, self.generator), (self.discriminator_optimizer, self.discriminator)]
        )

    @property
    def metrics(self):
        return self.trackers.metrics

    @property
    def inference_model(self):
        """The EMA generator: the sampler that is exported and evaluated."""
        return self.generator_ema

    @property
    def train_step_count(self):
        return self.generator_optimizer.iterations

    def draw_noise(self, batch_size, seed=None):
        """z ~ N(0, I) [B, noise_dim], the same global batch on any number of replicas."""
        return helpers.replica_draw(
            lambda shape, seed: keras.random.normal(shape, seed=seed),
            (batch_size, self.generator.noise_dim),
            self.noise_seed_generator if seed is None else seed,
        )

    def _unpack(self, data):
        images = image_to_model_range(data["image"])
        age_groups = ops.cast(data["age_group"], "int32") if self.conditional else None
        return images, age_groups, data.get("noise")

    def train_step(self, data):
        images, age_groups, fixed_noise = self._unpack(data)
        batch_size = ops.shape(images)[0]

        # Discriminator: real images against detached samples of the same groups.
        noise = self.draw_noise(batch_size) if fixed_noise is None else fixed_noise
        fake_images = ops.stop_gradient(self.generator(noise, age_groups, training=True))
        with tf.GradientTape() as tape:
            real_logits = self.discriminator(images, age_groups, training=True)
            fake_logits = self.discriminator(fake_images, age_groups, training=True)
            d_per_example, d_terms = losses.compute_discriminator_loss(real_logits, fake_logits)
            d_loss = self.discriminator_optimizer.scale_loss(helpers.global_mean(d_per_example))
        d_variables = self.discriminator.trainable_variables
        self.discriminator_optimizer.apply_gradients(zip(tape.gradient(d_loss, d_variables), d_variables))

        # Generator: make the discriminator call fresh samples real.
        noise = self.draw_noise(batch_size) if fixed_noise is None else fixed_noise
        with tf.GradientTape() as tape:
            fake_logits = self.discriminator(self.generator(noise, age_groups, training=True), age_groups, training=True)
            g_per_example, _ = losses.compute_generator_loss(fake_logits)
            g_loss = self.generator_optimizer.scale_loss(helpers.global_mean(g_per_example))
        g_variables = self.generator.trainable_variables
        self.generator_optimizer.apply_gradients(zip(tape.gradient(g_loss, g_variables), g_variables))

        helpers.update_ema(self.generator_ema, self.generator, self.ema_decay)
        return self.trackers.update({"d_loss": ops.mean(d_per_example), **d_terms, "g_loss": ops.mean(g_per_example)})

    def test_step(self, data):
        # The EMA generator on held-out real images, with noise from a fixed seed.
        images, age_groups, fixed_noise = self._unpack(data)
        noise = self.draw_noise(ops.shape(images)[0], seed=self.seed + 1) if fixed_noise is None else fixed_noise
        fake_logits = self.discriminator(self.generator_ema(noise, age_groups, training=False), age_groups,
                                         training=False)
        _, d_terms = losses.compute_discriminator_loss(self.discriminator(images, age_groups, training=False),
                                                       fake_logits)
        g_per_example, _ = losses.compute_generator_loss(fake_logits)
        self.trackers.update({**d_terms, "g_loss": ops.mean(g_per_example)})
        return self.trackers.results(self.VALIDATION_LOG_KEYS)

    def call(self, inputs):
        return self.generator_ema(inputs["noise"], inputs.get("age_group"), training=False)

    def get_config(self):
        config = super().get_config()
        config.update({
            **networks_config(self, self.NETWORKS),
            "ema_decay": self.ema_decay,
            "seed": self.seed,
        })
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**with_networks(config, cls.NETWORKS))
