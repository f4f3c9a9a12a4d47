"""The conditional beta-VAE as a model family (`model.type: cvae`): an age transformer.

Seed 004: age and gender condition encoder and decoder; encoder convolutions
of 16/32/64/128 channels; a 256-d latent (mu, log-variance); a decoder that
mirrors the encoder with transposed convolutions; MSE + beta * KL; Adam
8e-4 (set in the pipelines); 128 px MORPH-II. See docs/families/cvae.md for
what we chose (kernels, activations, where the condition joins, the loss's
sums, the optional beta warm-up, the age-shift vectors).
"""

import dataclasses
import typing

import keras
import numpy as np

from ragan_tf.config import AT_LEAST_ONE, NON_NEGATIVE, ConfigError, OneOf, require_age_groups
from ragan_tf.models import training_helpers
from ragan_tf.models.cvae.conditional_vae import (
    AGING_MODES,
    GENDERS,
    ConditionalVAE,
    ConditionalVAEAger,
    compute_group_means,
)
from ragan_tf.models.cvae.cvae_decoder import CVAEDecoder
from ragan_tf.models.cvae.cvae_encoder import CVAEEncoder
from ragan_tf.models.registry import ModelFamily


@dataclasses.dataclass
class CVAEConfig:
    """Conditional beta-VAE settings (`model.type: cvae`); the seed's are the defaults.

    `data.image_size` must be divisible by 2 ** len(channels); at least 2 age groups.
    `group_mean_examples`: training faces encoded at the end of training for
    the age-shift vectors.
    """

    type: str = "cvae"
    channels: typing.List[int] = dataclasses.field(default_factory=lambda: [16, 32, 64, 128])
    latent_dim: int = 256
    beta: float = 1.0
    beta_warmup_steps: int = 0
    aging: str = "condition"
    group_mean_examples: int = 4096

    LIMITS = {
        **dict.fromkeys(("channels", "latent_dim", "group_mean_examples"), AT_LEAST_ONE),
        **dict.fromkeys(("beta", "beta_warmup_steps"), NON_NEGATIVE),
        "aging": OneOf(AGING_MODES),
    }
    #: What the networks read (`ragan_tf.config.architecture`): age groups and gender condition both networks.
    ARCHITECTURE_FIELDS = ("data.image_size", "data.age_groups", "model.channels", "model.latent_dim")

    def validate(self, experiment):
        size, depth = experiment.data.image_size, len(self.channels)
        if size % 2**depth:
            raise ConfigError(f"model.type cvae needs data.image_size divisible by 2 ** len(model.channels) = "
                              f"{2**depth}; got {size}.")
        require_age_groups(experiment, self.type)


def _networks(config):
    model, size = config.model, config.data.image_size
    condition_dim = config.data.num_age_groups + GENDERS
    return (CVAEEncoder(size, condition_dim, model.channels, model.latent_dim, name="encoder"),
            CVAEDecoder(size, condition_dim, model.channels, model.latent_dim, name="decoder"))


def build_training_model(config):
    encoder, decoder = _networks(config)
    model = ConditionalVAE(encoder, decoder, config.data.num_age_groups, beta=config.model.beta,
                           beta_warmup_steps=config.model.beta_warmup_steps, aging=config.model.aging,
                           seed=config.runtime.seed)
    model.compile(training_helpers.make_adam(config.training, "vae_adam"), jit_compile=config.training.jit_compile,
                  steps_per_execution=config.training.steps_per_execution)
    return model


def build_inference_model(config):
    encoder, decoder = _networks(config)
    return ConditionalVAEAger(encoder, decoder, config.data.num_age_groups, aging=config.model.aging, name="ager")


class GroupMeans(keras.callbacks.Callback):
    """At the end of training, the age-shift vectors: the mean posterior mean of each age group over
    up to `group_mean_examples` training faces (in file order), stored in the ager."""

    def __init__(self, config):
        super().__init__()
        self.config = config

    def on_train_end(self, logs=None):
        from ragan_tf.data.pipeline import make_dataset

        batch_size = min(256, self.config.model.group_mean_examples)
        batches = make_dataset(self.config.data, "train", batch_size, training=False, repeat=False)
        batches = batches.take(-(-self.config.model.group_mean_examples // batch_size))
        counts = compute_group_means(self.model.inference_model, batches.as_numpy_iterator())
        print(f"Age-shift vectors from {int(np.sum(counts))} training faces (per group: {counts.tolist()}).")


def callbacks(config):
    return [GroupMeans(config)]


FAMILY = ModelFamily(
    name="cvae",
    config_class=CVAEConfig,
    build_training_model=build_training_model,
    build_inference_model=build_inference_model,
    callbacks=callbacks,
    paper="Conditional VAEs for Age Transformation in Facial Imagery (seed 004: Stoller, Maldonado, Melel, Rosen)",
    docs="docs/families/cvae.md",
)
