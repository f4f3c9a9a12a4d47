"""Helpers every family's `train_step` uses, written once.

They are small on purpose: a family's `train_step` still spells out its own
objective (which networks, which losses, which order); these only do the
bookkeeping that must be identical everywhere:

- `replica_position` / `global_mean`: Keras 3 SUMS the gradients of a custom
  train step across replicas, so a replica's loss is the sum of its
  per-example losses divided by the GLOBAL batch size.
- `replica_draw`: random draws (noise, target groups) that give a global
  batch the same values whatever the number of replicas.
- `LossTrackers`: `keras.metrics.Mean` per logged loss; a tracker that was
  not updated in an epoch (a training phase that did not run) reports NaN,
  not a fake 0.
- `copy_network` / `update_ema`: the exponential moving average of a
  generator, the network that is sampled, evaluated and exported.
- `make_adam` / `build_optimizers`: optimizers made and built inside the
  strategy's scope (restoring into unbuilt optimizers silently drops their
  state; see docs/REPRODUCTION.md).
"""

import math

import keras
import tensorflow as tf
from keras import ops

from ragan_tf.models.adversarial_losses import full_precision


def replica_position():
    """`(replica id, number of replicas)`; `(0, 1)` outside a replica context."""
    context = tf.distribute.get_replica_context()
    if context is None:
        return 0, 1
    return context.replica_id_in_sync_group, context.num_replicas_in_sync


def global_mean(per_example):
    """sum(per_example) / global batch size: the loss a replica differentiates."""
    _, num_replicas = replica_position()
    per_example = full_precision(per_example)
    return ops.sum(per_example) / ops.cast(ops.shape(per_example)[0] * num_replicas, per_example.dtype)


def replica_draw(draw, local_shape, seed):
    """`draw(shape, seed)` for this replica's rows of a global batch.

    Every replica draws the same [replicas, *local_shape] values and keeps its
    own row, so replicas get different values and a global batch gets the
    same values on one device as on several (with the same seed state).

    Args:
        draw: e.g. `keras.random.normal` or a `lambda shape, seed: keras.random.randint(shape, 1, 5, seed=seed)`.
        local_shape: this replica's shape, batch first.
        seed: a `keras.random.SeedGenerator` (or an int).
    """
    replica_id, num_replicas = replica_position()
    return draw((num_replicas, *local_shape), seed)[replica_id]


class LossMean(keras.metrics.Mean):
    """A `Mean` that reports NaN when nothing was recorded since its last reset.

    Families with training phases (an encoder trained after the GAN) log
    every loss in every epoch; the losses of the phase that did not run are
    missing values, not zeros.
    """

    def result(self):
        return ops.where(self.count > 0, super().result(), float("nan"))


class LossTrackers:
    """One `LossMean` per logged name, in a fixed order (the log keys).

    Example:
    ```python
    self.trackers = LossTrackers(("d_loss", "g_loss"))
    ...
    return self.trackers.update({"d_loss": d_loss, "g_loss": g_loss})
    ```
    """

    def __init__(self, names):
        self.names = tuple(names)
        self.metrics = [LossMean(name=name) for name in self.names]
        self._by_name = dict(zip(self.names, self.metrics))

    def update(self, values):
        """Records `values` ({name: scalar}) and returns every tracker's result (the step's logs)."""
        for name, value in values.items():
            self._by_name[name].update_state(value)
        return self.results()

    def results(self, names=None):
        return {name: self._by_name[name].result() for name in (names or self.names)}


def copy_network(network, example_inputs, name=None):
    """A second instance of `network` (same config, same weights), built by calling it on `example_inputs`."""
    config = {**network.get_config(), "name": name or f"{network.name}_ema"}
    copy = network.__class__.from_config(config)
    copy(*example_inputs, training=False)
    copy.set_weights(network.get_weights())
    return copy


def update_ema(average, network, decay):
    """average <- decay * average + (1 - decay) * network for trainable weights; other state
    (batch-norm statistics) is copied."""
    for average_weight, weight in zip(average.trainable_variables, network.trainable_variables):
        average_weight.assign(decay * average_weight + (1.0 - decay) * weight)
    for average_weight, weight in zip(average.non_trainable_variables, network.non_trainable_variables):
        average_weight.assign(weight)


def make_adam(training_config, name, learning_rate=None, beta_1=None, beta_2=None):
    """Adam with the config's rate and betas (PyTorch's epsilon, 1e-8: peer code is PyTorch);
    a `LossScaleOptimizer` around it under `training.mixed_precision`."""
    optimizer = keras.optimizers.Adam(
        learning_rate=training_config.learning_rate if learning_rate is None else learning_rate,
        beta_1=training_config.beta_1 if beta_1 is None else beta_1,
        beta_2=training_config.beta_2 if beta_2 is None else beta_2,
        epsilon=1e-8,
        name=name,
    )
    if training_config.mixed_precision:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer, name=f"{name}_loss_scale")
    return optimizer


def make_optimizer_pair(training_config):
    """`(generator_optimizer, discriminator_optimizer)`; the discriminator's learning rate is
    `training.discriminator_learning_rate` when set (two time-scale updates), else the same."""
    discriminator_rate = training_config.discriminator_learning_rate
    return (
        make_adam(training_config, "generator_adam"),
        make_adam(training_config, "discriminator_adam", learning_rate=discriminator_rate),
    )


def build_optimizers(pairs):
    """Creates optimizer state for `[(optimizer, network), ...]` (inside the strategy's scope,
    before `fit` or a restore)."""
    for optimizer, network in pairs:
        if not optimizer.built:
            optimizer.build(network.trainable_variables)


def apply_gradients(optimizer, tape, loss, variables):
    """One optimizer step on `loss` (scaled and unscaled by the optimizer under mixed precision)."""
    gradients = tape.gradient(loss, variables)
    optimizer.apply_gradients(zip(gradients, variables))


def is_power_of_two(value):
    return value >= 1 and math.log2(value).is_integer()


def recalibrate_batch_norm(network, batches):
    """Sets the moving statistics of every `BatchNormalization` in `network` to their average over
    `batches` (inputs of `network`, each a tuple of call arguments), the weights fixed ("precise
    batch norm"). A network whose weights moved fast in its last steps (a short encoder phase) has
    moving averages that lag behind them: measured on Age-cGAN's encoder after 600 steps, latent
    MSE 1.42 in inference mode against 0.28 in training mode; 0.28 after recalibrating on 40
    batches. Returns the number of batches used."""
    norms = [layer for layer in network._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [norm.momentum for norm in norms]
    count = 0
    try:
        for count, inputs in enumerate(batches):
            for norm in norms:  # the moving average becomes the running mean over the batches so far
                norm.momentum = count / (count + 1.0)
            network(*inputs, training=True)
        return count + 1 if norms else 0
    finally:
        for norm, momentum in zip(norms, momenta):
            norm.momentum = momentum
