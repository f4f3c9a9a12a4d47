"""Encoder + conditional DCGAN as a model family (`model.type: encoder_cdcgan`).

Seed 000: two age groups 20-30 / 40-50 of IMDB-WIKI (`data.age_groups:
two_groups`); the one-hot group concatenated to z and to a discriminator
convolution; ConvTranspose 4x4 + BN + ReLU with a tanh output; a
discriminator of 4x4 convolutions with batch norm and ReLU; an encoder of
5x5 convolutions, batch norm and ReLU, no activation on its last layer,
trained on (G(z, y), z) pairs of the trained generator. See
docs/families/encoder_cdcgan.md for what we chose.
"""

import dataclasses

from ragan_tf.config import AT_LEAST_ONE, ConfigError, OneOf, require_age_groups
from ragan_tf.models import training_helpers
from ragan_tf.models.dcgan.dcgan_discriminator import ACTIVATIONS
from ragan_tf.models.dcgan.dcgan_family import build_discriminator, build_generator, check_dcgan_sizes
from ragan_tf.models.encoder_cdcgan.encoder_conditional_dcgan import (
    EncoderConditionalDCGAN,
    EncoderConditionalDCGANAger,
    EncoderPhase,
    EncoderStatistics,
)
from ragan_tf.models.encoder_cdcgan.latent_encoder import LatentEncoder
from ragan_tf.models.registry import ModelFamily


@dataclasses.dataclass
class EncoderCDCGANConfig:
    """Widths and phases of the encoder + conditional DCGAN (`model.type: encoder_cdcgan`).

    `encoder_epochs`: the last epochs of `training.epochs` (at least 1,
    fewer than all), in which the generator is frozen and the encoder
    trains. Sizes as for DCGAN (`DCGANConfig`); at least 2 age groups.
    """

    type: str = "encoder_cdcgan"
    noise_dim: int = 100
    generator_channels: int = 1024
    discriminator_channels: int = 128
    discriminator_activation: str = "relu"
    encoder_channels: int = 64
    encoder_epochs: int = 10
    sync_batch_norm: bool = False

    LIMITS = {
        **dict.fromkeys(("noise_dim", "generator_channels", "discriminator_channels", "encoder_channels",
                         "encoder_epochs"), AT_LEAST_ONE),
        "discriminator_activation": OneOf(ACTIVATIONS),
    }
    #: What the networks read (`ragan_tf.config.architecture`): the age groups condition G and D.
    ARCHITECTURE_FIELDS = ("data.image_size", "data.age_groups", "model.noise_dim", "model.generator_channels",
                           "model.discriminator_channels", "model.discriminator_activation",
                           "model.encoder_channels")

    def validate(self, experiment):
        check_dcgan_sizes(experiment, self.type)
        require_age_groups(experiment, self.type)
        if self.encoder_epochs >= experiment.training.epochs:
            raise ConfigError(f"model.encoder_epochs must be at least 1 and below training.epochs "
                              f"({experiment.training.epochs}), got {self.encoder_epochs}.")


def build_encoder(config):
    model = config.model
    return LatentEncoder(config.data.image_size, noise_dim=model.noise_dim, base_channels=model.encoder_channels,
                         sync_batch_norm=model.sync_batch_norm, name="encoder")


def compile_encoder_gan(model, config):
    """Compiles an `EncoderConditionalDCGAN` (or Age-cGAN) with G / D Adams and the encoder's Adam."""
    model.compile(*training_helpers.make_optimizer_pair(config.training),
                  training_helpers.make_adam(config.training, "encoder_adam"),
                  jit_compile=config.training.jit_compile, steps_per_execution=config.training.steps_per_execution)
    return model


def build_training_model(config):
    groups = config.data.num_age_groups
    return compile_encoder_gan(EncoderConditionalDCGAN(
        build_generator(config, groups), build_discriminator(config, groups), build_encoder(config),
        ema_decay=config.training.ema_decay, seed=config.runtime.seed), config)


def build_inference_model(config):
    return EncoderConditionalDCGANAger(build_encoder(config), build_generator(config, config.data.num_age_groups),
                                       name="ager")


def callbacks(config):
    """The phase switch at `training.epochs - model.encoder_epochs`, and the encoder's statistics."""
    return [EncoderPhase(config.training.epochs - config.model.encoder_epochs), EncoderStatistics()]


FAMILY = ModelFamily(
    name="encoder_cdcgan",
    config_class=EncoderCDCGANConfig,
    build_training_model=build_training_model,
    build_inference_model=build_inference_model,
    callbacks=callbacks,
    paper="Face Aging using an Encoder - Conditional DCGAN Network (seed 000, blog)",
    docs="docs/families/encoder_cdcgan.md",
)
