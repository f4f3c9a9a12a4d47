"""Encoder + conditional DCGAN (seed 000): train a conditional DCGAN, then an encoder of its z.

Two phases in one `fit`:

1. `gan` (the first epochs): the conditional GAN objective of
   `ragan_tf.models.gan.GAN`, the age group concatenated to z and to a
   discriminator convolution;
2. `encoder` (the last `encoder_epochs`): the generator is frozen; pairs
   (G(z, y), z) are drawn from it (z ~ N(0, I), y uniform over the groups)
   and the encoder E minimises ||E(G(z, y)) - z||^2 (mean over dimensions;
   seed 000 reports about 0.6).

Aging a face x to group y' is G(E(x), y'): the exported
`EncoderConditionalDCGANAger`. The losses of the phase that is not running
are logged as NaN (not measured), not 0.
"""

import keras
import tensorflow as tf
from keras import ops

from ragan_tf.data.normalization import image_to_model_range
from ragan_tf.models import training_helpers as helpers
from ragan_tf.models.gan import losses
from ragan_tf.models.gan.gan import GAN
from ragan_tf.models.network_config import networks_config, with_networks
from ragan_tf.models.tasks import AgeTransformer

PHASES = ("gan", "encoder")


@keras.saving.register_keras_serializable(package="ragan_tf.encoder_cdcgan")
class EncoderConditionalDCGANAger(AgeTransformer, keras.Model):
    """Ages a face as G(E(x), y'): an `AgeTransformer` whose `sampler` is the generator.

    The face mask is accepted (the contract's signature) and unused: this
    family transforms the whole image.

    Args:
        encoder: a `LatentEncoder`.
        generator: a conditional `DCGANGenerator`.
        **kwargs: other `keras.Model` arguments.
    """

    def __init__(self, encoder, generator, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.generator = generator
        self.image_size = generator.image_size
        self.num_age_groups = generator.num_age_groups
        self.built = True  # both networks are built on construction

    @property
    def sampler(self):
        return self.generator

    def call(self, image, face_mask, target_age, training=None):
        return self.generator(self.encoder(image, training=training), target_age, training=training)

    def get_config(self):
        return {**super().get_config(), **networks_config(self, ("encoder", "generator"))}

    @classmethod
    def from_config(cls, config):
        return cls(**with_networks(config, ("encoder", "generator")))


@keras.saving.register_keras_serializable(package="ragan_tf.encoder_cdcgan")
class EncoderConditionalDCGAN(GAN):
    """The seed 000 system: a conditional `GAN` plus a `LatentEncoder` trained in a second phase.

    `phase` ("gan" or "encoder") selects the step; `EncoderPhase` sets it
    from the epoch index (so a resumed run is in the right phase). An
    optional `encoder_noise` [B, noise_dim] and `encoder_age_group` [B] in a
    batch replace the encoder phase's random pairs (tests).

    Args:
        generator: a conditional `DCGANGenerator`.
        discriminator: a conditional `DCGANDiscriminator`.
        encoder: a `LatentEncoder` with the generator's `noise_dim`.
        ema_decay, seed: as for `GAN`.
    """

    NETWORKS = GAN.NETWORKS + ("encoder",)
    LOG_KEYS = GAN.LOG_KEYS + ("encoder_loss",)
    VALIDATION_LOG_KEYS = GAN.VALIDATION_LOG_KEYS + ("encoder_loss",)

    def __init__(self, generator, discriminator, encoder, ema_decay=0.0, seed=0, **kwargs):
        if generator.num_age_groups < 2:
            raise ValueError("EncoderConditionalDCGAN needs a conditional generator (num_age_groups >= 2).")
        super().__init__(generator, discriminator, ema_decay=ema_decay, seed=seed, **kwargs)
        self.encoder = encoder
        size = generator.image_size
        encoder(ops.zeros((1, size, size, 3)), training=False)  # builds every layer before fit
        self.ager = self.make_ager()
        self.pair_seed_generator = keras.random.SeedGenerator(seed + 2, name="encoder_pair_seed")
        self.encoder_optimizer = None
        self.phase = "gan"
        self.encoder_statistics_batch_size = 64  # `EncoderStatistics`: pairs per recalibration batch

    def make_ager(self):
        """The exported age transformer over the encoder and the EMA generator (subclasses
        override it: Age-cGAN's adds the latent optimisation)."""
        return EncoderConditionalDCGANAger(self.encoder, self.generator_ema, name="ager")

    def compile(self, generator_optimizer, discriminator_optimizer, encoder_optimizer, **kwargs):
        self.encoder_optimizer = encoder_optimizer
        super().compile(generator_optimizer, discriminator_optimizer, **kwargs)

    def build_optimizers(self):
        super().build_optimizers()
        helpers.build_optimizers([(self.encoder_optimizer, self.encoder)])

    @property
    def inference_model(self):
        """G_ema(E(x), y'): the age transformer that is exported and evaluated."""
        return self.ager

    @property
    def train_step_count(self):
        return self.generator_optimizer.iterations + self.encoder_optimizer.iterations

    def draw_pairs(self, batch_size, data, seed=None):
        """(G_ema(z, y), z, y) with z ~ N(0, I) and y uniform over the age groups."""
        seed = self.pair_seed_generator if seed is None else seed
        noise = data.get("encoder_noise")
        if noise is None:
            noise = helpers.replica_draw(lambda shape, s: keras.random.normal(shape, seed=s),
                                         (batch_size, self.generator.noise_dim), seed)
        groups = data.get("encoder_age_group")
        if groups is None:
            groups = helpers.replica_draw(
                lambda shape, s: keras.random.randint(shape, 0, self.generator.num_age_groups, dtype="int32", seed=s),
                (batch_size,), seed)
        images = ops.stop_gradient(self.generator_ema(noise, groups, training=False))
        return images, noise, groups

    def train_step(self, data):
        if self.phase == "gan":
            return super().train_step(data)
        # Encoder: regress z from samples of the frozen (EMA) generator.
        images, noise, _ = self.draw_pairs(ops.shape(image_to_model_range(data["image"]))[0], data)
        with tf.GradientTape() as tape:
            e_per_example = losses.latent_regression_loss(self.encoder(images, training=True), noise)
            e_loss = self.encoder_optimizer.scale_loss(helpers.global_mean(e_per_example))
        e_variables = self.encoder.trainable_variables
        self.encoder_optimizer.apply_gradients(zip(tape.gradient(e_loss, e_variables), e_variables))
        return self.trackers.update({"encoder_loss": ops.mean(e_per_example)})

    def test_step(self, data):
        super().test_step(data)
        images, noise, _ = self.draw_pairs(ops.shape(data["image"])[0], data, seed=self.seed + 3)
        e_per_example = losses.latent_regression_loss(self.encoder(images, training=False), noise)
        self.trackers.update({"encoder_loss": ops.mean(e_per_example)})
        return self.trackers.results(self.VALIDATION_LOG_KEYS)



class EncoderPhase(keras.callbacks.Callback):
    """Switches `model.phase` from "gan" to "encoder" at epoch `encoder_start_epoch` (0-based).

    The phase follows the epoch index, so a resumed run (a fresh model starts
    in "gan") is in the right phase from its first epoch. It only ever moves
    forward, so a caller may switch earlier (the baselines benchmark switches
    on a time budget). Changing it retraces the train step.
    """

    def __init__(self, encoder_start_epoch):
        super().__init__()
        self.encoder_start_epoch = encoder_start_epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch >= self.encoder_start_epoch and self.model.phase != "encoder":
            switch_phase(self.model, "encoder", f"Epoch {epoch + 1}")


class EncoderStatistics(keras.callbacks.Callback):
    """After each encoder-phase epoch's training steps (before its validation, else at its end),
    the encoder's batch-norm statistics are recomputed over `batches` batches of pairs of the
    frozen generator (`training_helpers.recalibrate_batch_norm`), so that validation, backups and
    the exported ager use statistics of its current weights, not moving averages that lag them."""

    def __init__(self, batches=40, seed=7):
        super().__init__()
        self.batches, self.seed = batches, seed
        self._stale = False

    def on_train_batch_end(self, batch, logs=None):
        self._stale = self.model.phase == "encoder"

    def _recalibrate(self):
        if not self._stale:
            return
        size = self.model.encoder_statistics_batch_size
        pairs = (self.model.draw_pairs(size, {}, seed=self.seed + index)[0:1] for index in range(self.batches))
        helpers.recalibrate_batch_norm(self.model.encoder, pairs)
        self._stale = False

    def on_test_begin(self, logs=None):
        self._recalibrate()

    def on_epoch_end(self, epoch, logs=None):
        self._recalibrate()


def switch_phase(model, phase, when):
    """Sets `model.phase` and rebuilds the train function (Keras's fit looks it up every step)."""
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, got {phase!r}.")
    model.phase = phase
    model.make_train_function(force=True)
    print(f"{when}: {phase} phase.", flush=True)
