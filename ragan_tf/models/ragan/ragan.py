"""The RAGAN training model: the paper's objective as a Keras `fit` train step.

One step, with x a batch of real faces of age groups y and y' target groups
drawn uniformly among the other groups:

1. discriminator: x' = G(x, y') (detached); minimise
   softplus(-D(x, y)) + softplus(D(x', y')) + (r1_gamma / 2) ||grad_x D(x, y)||^2;
2. generator: x' = G(x, y'), x_rec = G(x, y), x_cyc = G(x', y); minimise
   lambda_adv softplus(-D(x', y')) + lambda_rec |x_rec - x| + lambda_cyc |x_cyc - x|;
3. EMA generator: ema <- decay * ema + (1 - decay) * G.

With a discriminator built with an auxiliary age classifier C (ours, off
in the paper-faithful configs), D also minimises lambda_age_cls CE(C(x), y)
and G lambda_age_cls CE(C(x'), y').

Distribution: Keras 3 sums the gradients of a custom train step across
replicas, so each replica's loss is the sum of its per-example losses
divided by the GLOBAL batch size (`training_helpers.global_mean`).
"""

import keras
import tensorflow as tf
from keras import ops

from ragan_tf.data.normalization import to_model_range
from ragan_tf.models import training_helpers as helpers
from ragan_tf.models.adversarial_losses import full_precision
from ragan_tf.models.network_config import networks_config, with_networks
from ragan_tf.models.ragan import losses

NETWORKS = ("generator", "discriminator")
TRAIN_LOG_KEYS = ("d_loss", "d_adv", "r1", "g_loss", "g_adv", "rec", "cyc")
AGE_CLASSIFIER_LOG_KEYS = ("d_cls", "g_cls")
VALIDATION_LOG_KEYS = ("d_adv", "g_loss", "g_adv", "rec", "cyc")


def _example_inputs(image_size):
    return (
        ops.zeros((1, image_size, image_size, 3)),
        ops.ones((1, image_size, image_size, 1)),
        ops.zeros((1,), dtype="int32"),
    )


@keras.saving.register_keras_serializable(package="ragan_tf.ragan")
class RAGAN(keras.Model):
    """Re-Aging GAN training model: a generator, its discriminator and an EMA generator.

    Trained with `fit` on batches (dicts) with `image` float32 [B, H, W, 3] in
    [-1, 1], `face_mask` float32 [B, H, W, 1] and `age_group` int32 [B]; other
    keys are ignored. An optional `target_age_group` int32 [B] replaces the
    random target groups (tests use it to compare runs that must see the same
    targets).

    The EMA generator (`generator_ema`) is what is sampled, evaluated and
    exported; calling the model runs it:
    `model({"image": x, "face_mask": m, "target_age": groups})`.

    Build the model, `compile` it and call `build_optimizers` inside the
    distribution strategy's scope, before `fit` or restoring weights.

    Args:
        generator: a generator called as `generator(image, face_mask, target_age, training)`.
        discriminator: a discriminator called as `discriminator(image, age_group, training)`
            returning one logit per example.
        num_age_groups: number of age groups (at least 2).
        ema_decay: decay of the EMA generator's weights.
        seed: seed of the target-group draws.

    Example:
    ```python
    model = RAGAN(build_generator(config), build_discriminator(config), num_age_groups=10)
    model.compile(*make_optimizer_pair(config.training))
    model.fit(dataset, epochs=30, callbacks=[LambdaRecSchedule(10, 1.0)])
    aged = model.generator_ema(images, face_masks, target_groups)
    ```
    """

    def __init__(self, generator, discriminator, num_age_groups, ema_decay=0.999, seed=0, **kwargs):
        super().__init__(**kwargs)
        if num_age_groups < 2:
            raise ValueError(f"RAGAN needs at least 2 age groups, got num_age_groups={num_age_groups}.")
        self.generator = generator
        self.discriminator = discriminator
        self.num_age_groups = num_age_groups
        self.ema_decay = ema_decay
        self.seed = seed

        image, face_mask, age_group = _example_inputs(generator.image_size)
        generator(image, face_mask, age_group, training=False)
        discriminator(image, age_group, training=False)
        self.generator_ema = helpers.copy_network(generator, (image, face_mask, age_group))

        # A variable, so that checkpoints hold it; `LambdaRecSchedule` assigns it.
        self.lambda_rec = keras.Variable(10.0, trainable=False, dtype="float32", name="lambda_rec")
        self.target_seed_generator = keras.random.SeedGenerator(seed, name="target_age_seed")
        self.generator_optimizer = None
        self.discriminator_optimizer = None
        self.uses_age_classifier = getattr(discriminator, "age_classifier", None) is not None
        self.trackers = helpers.LossTrackers(TRAIN_LOG_KEYS + (AGE_CLASSIFIER_LOG_KEYS if self.uses_age_classifier else ()))
        self.lambda_age_cls = 0.0
        self.built = True

    def compile(
        self,
        generator_optimizer,
        discriminator_optimizer,
        lambda_adv=1.0,
        lambda_rec=10.0,
        lambda_cyc=1.0,
        r1_gamma=1.0,
        lambda_age_cls=1.0,
        **kwargs,
    ):
        """Sets the optimizers and loss weights, and builds the optimizers.

        `lambda_rec` is the initial reconstruction weight (see
        `LambdaRecSchedule`). `lambda_age_cls` weighs the auxiliary age
        classification terms when the discriminator has the classifier. Other keyword arguments (`jit_compile`,
        `steps_per_execution`, `run_eagerly`) go to `keras.Model.compile`.
        """
        super().compile(optimizer=None, **kwargs)
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer
        self.lambda_adv = lambda_adv
        self.initial_lambda_rec = lambda_rec
        self.lambda_rec.assign(lambda_rec)
        self.lambda_cyc = lambda_cyc
        self.r1_gamma = r1_gamma
        self.lambda_age_cls = lambda_age_cls
        self.build_optimizers()

    def build_optimizers(self):
        """Creates the optimizers' state (call inside the strategy's scope, before fit or restore).

        Restoring into unbuilt optimizers silently drops their state.
        """
        helpers.build_optimizers(
            [(self.generator_optimizer, self.generator), (self.discriminator_optimizer, self.discriminator)]
        )

    @property
    def metrics(self):
        return self.trackers.metrics

    @property
    def inference_model(self):
        """The EMA generator: the age transformer that is sampled, exported and evaluated."""
        return self.generator_ema

    @property
    def train_step_count(self):
        return self.generator_optimizer.iterations

    def sample_target_age_groups(self, age_groups, seed=None):
        """y' = (y + k) mod G with k uniform in {1, ..., G - 1}: uniform over the other groups.

        Every replica draws the same [replicas, local batch] offsets and keeps
        its own row, so replicas get different targets and a global batch gets
        the same targets whatever the number of replicas.

        Args:
            age_groups: int [B] source groups.
            seed: an int or `SeedGenerator`; default: the model's generator.
        """
        offsets = helpers.replica_draw(
            lambda shape, seed: keras.random.randint(shape, minval=1, maxval=self.num_age_groups, dtype="int32", seed=seed),
            (ops.shape(age_groups)[0],),
            self.target_seed_generator if seed is None else seed,
        )
        return (ops.cast(age_groups, "int32") + offsets) % self.num_age_groups

    def _unpack(self, data, seed=None):
        age_groups = ops.cast(data["age_group"], "int32")
        if "target_age_group" in data:
            target_age_groups = ops.cast(data["target_age_group"], "int32")
        else:
            target_age_groups = self.sample_target_age_groups(age_groups, seed)
        image, face_mask = to_model_range(data["image"], data["face_mask"])
        return image, face_mask, age_groups, target_age_groups

    def _discriminate(self, images, age_groups, training):
        """`(D(images, age_groups), C(images) or None)`: the logits, and the auxiliary classifier's."""
        if self.uses_age_classifier:
            return self.discriminator.logits_and_age_logits(images, age_groups, training=training)
        return self.discriminator(images, age_groups, training=training), None

    def train_step(self, data):
        images, face_masks, age_groups, target_age_groups = self._unpack(data)

        # Discriminator: real faces of their own group vs. detached aged faces.
        aged_images = ops.stop_gradient(self.generator(images, face_masks, target_age_groups, training=True))
        # The R1 gradient goes through D too: under mixed precision it is loss-scaled like D's own.
        r1_scale = self.discriminator_optimizer.scale_loss(1.0)
        with tf.GradientTape() as tape:
            with tf.GradientTape() as r1_tape:
                r1_tape.watch(images)
                real_logits, real_age_logits = self._discriminate(images, age_groups, training=True)
                real_logit_sum = ops.sum(full_precision(real_logits)) * r1_scale
            r1 = losses.r1_penalty(r1_tape.gradient(real_logit_sum, images) / r1_scale)
            fake_logits, _ = self._discriminate(aged_images, target_age_groups, training=True)
            d_per_example, d_terms = losses.compute_discriminator_loss(
                real_logits, fake_logits, r1, self.r1_gamma, real_age_logits, age_groups, self.lambda_age_cls
            )
            d_loss = helpers.global_mean(d_per_example)
            scaled_d_loss = self.discriminator_optimizer.scale_loss(d_loss)
        d_variables = self.discriminator.trainable_variables
        self.discriminator_optimizer.apply_gradients(zip(tape.gradient(scaled_d_loss, d_variables), d_variables))

        # Generator: fool D at the target group, reconstruct at the source group, close the cycle.
        with tf.GradientTape() as tape:
            aged_images = self.generator(images, face_masks, target_age_groups, training=True)
            reconstructed_images = self.generator(images, face_masks, age_groups, training=True)
            cycled_images = self.generator(aged_images, face_masks, age_groups, training=True)
            fake_logits, fake_age_logits = self._discriminate(aged_images, target_age_groups, training=True)
            g_per_example, g_terms = losses.compute_generator_loss(
                fake_logits,
                images,
                reconstructed_images,
                cycled_images,
                self.lambda_adv,
                self.lambda_rec,
                self.lambda_cyc,
                fake_age_logits,
                target_age_groups,
                self.lambda_age_cls,
            )
            g_loss = helpers.global_mean(g_per_example)
            scaled_g_loss = self.generator_optimizer.scale_loss(g_loss)
        g_variables = self.generator.trainable_variables
        self.generator_optimizer.apply_gradients(zip(tape.gradient(scaled_g_loss, g_variables), g_variables))

        helpers.update_ema(self.generator_ema, self.generator, self.ema_decay)
        return self.trackers.update(
            {"d_loss": ops.mean(d_per_example), **d_terms, "g_loss": ops.mean(g_per_example), **g_terms}
        )

    def test_step(self, data):
        # The EMA generator is the one evaluated. Target groups come from a
        # fixed seed, so that every validation pass sees the same targets.
        images, face_masks, age_groups, target_age_groups = self._unpack(data, seed=self.seed + 1)
        aged_images = self.generator_ema(images, face_masks, target_age_groups, training=False)
        reconstructed_images = self.generator_ema(images, face_masks, age_groups, training=False)
        cycled_images = self.generator_ema(aged_images, face_masks, age_groups, training=False)
        real_logits = self.discriminator(images, age_groups, training=False)
        fake_logits = self.discriminator(aged_images, target_age_groups, training=False)
        d_adv = losses.real_adversarial_loss(real_logits) + losses.fake_adversarial_loss(fake_logits)
        g_per_example, g_terms = losses.compute_generator_loss(
            fake_logits, images, reconstructed_images, cycled_images, self.lambda_adv, self.lambda_rec, self.lambda_cyc
        )
        values = {"d_adv": ops.mean(d_adv), "g_loss": ops.mean(g_per_example), **g_terms}
        self.trackers.update(values)
        return self.trackers.results(VALIDATION_LOG_KEYS)

    def call(self, inputs):
        # Always inference mode: the EMA generator is never trained.
        return self.generator_ema(inputs["image"], inputs["face_mask"], inputs["target_age"], training=False)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                **networks_config(self, NETWORKS),
                "num_age_groups": self.num_age_groups,
                "ema_decay": self.ema_decay,
                "seed": self.seed,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**with_networks(config, NETWORKS))


class LambdaRecSchedule(keras.callbacks.Callback):
    """lambda_rec = the compiled value before epoch `switch_epoch` (0-based), `late_value` from then on.

    The paper's schedule is 10 for the first 10 epochs, then 1:
    `LambdaRecSchedule(10, 1.0)` on a model compiled with `lambda_rec=10`.
    The value depends only on the epoch index, so a resumed run gets the
    right weight from its first epoch.
    """

    def __init__(self, switch_epoch, late_value):
        super().__init__()
        self.switch_epoch = switch_epoch
        self.late_value = late_value

    def on_epoch_begin(self, epoch, logs=None):
        early_value = self.model.initial_lambda_rec
        self.model.lambda_rec.assign(early_value if epoch < self.switch_epoch else self.late_value)
