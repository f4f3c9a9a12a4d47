"""DCGAN as a model family (`model.type: dcgan`): an unconditional sampler.

Paper and seed 003: z of 100, 4x4x1024 projection, transposed convolutions
halving the channels to 64x64x3, batch norm except G's output and D's input,
ReLU in G and LeakyReLU 0.2 in D, N(0, 0.02) weights, Adam 2e-4 with
beta1 0.5 (set in the pipelines' `training` section), batch 256 for 50
epochs on CelebA. See docs/families/dcgan.md for what we chose.
"""

import dataclasses

from ragan_tf.config import AT_LEAST_ONE, ConfigError, OneOf
from ragan_tf.models import training_helpers
from ragan_tf.models.dcgan.dcgan_discriminator import ACTIVATIONS, DCGANDiscriminator
from ragan_tf.models.dcgan.dcgan_generator import DCGANGenerator
from ragan_tf.models.gan.gan import GAN
from ragan_tf.models.registry import ModelFamily


@dataclasses.dataclass
class DCGANConfig:
    """DCGAN widths (`model.type: dcgan`); the paper's are the defaults.

    `data.image_size` must be a power of two, and `generator_channels`
    large enough to halve once per doubling of the resolution from 4x4.
    """

    type: str = "dcgan"
    noise_dim: int = 100
    generator_channels: int = 1024
    discriminator_channels: int = 128
    discriminator_activation: str = "leaky_relu"
    sync_batch_norm: bool = False

    LIMITS = {
        **dict.fromkeys(("noise_dim", "generator_channels", "discriminator_channels"), AT_LEAST_ONE),
        "discriminator_activation": OneOf(ACTIVATIONS),
    }
    #: What the networks read (`ragan_tf.config.architecture`); unconditional: no `data.age_groups`.
    ARCHITECTURE_FIELDS = ("data.image_size", "model.noise_dim", "model.generator_channels",
                           "model.discriminator_channels", "model.discriminator_activation")

    def validate(self, experiment):
        check_dcgan_sizes(experiment, self.type)


def check_dcgan_sizes(experiment, model_type):
    """`data.image_size` and `model.generator_channels` that `DCGANGenerator` can be built with."""
    size = experiment.data.image_size
    if not training_helpers.is_power_of_two(size):
        raise ConfigError(f"model.type {model_type} needs data.image_size to be a power of two "
                          f"(DCGAN's stride-2 stack from 4x4), got {size}.")
    halvings = size.bit_length() - 4  # 4x4 -> size, the last layer to RGB
    channels = experiment.model.generator_channels
    if channels < 2**halvings:
        raise ConfigError(f"model.generator_channels must be at least {2**halvings} at data.image_size {size} "
                          f"(halved {halvings} times from 4x4), got {channels}.")


def build_generator(config, num_age_groups=0):
    model = config.model
    return DCGANGenerator(config.data.image_size, noise_dim=model.noise_dim, num_age_groups=num_age_groups,
                          base_channels=model.generator_channels, sync_batch_norm=model.sync_batch_norm,
                          name="generator")


def build_discriminator(config, num_age_groups=0):
    model = config.model
    return DCGANDiscriminator(config.data.image_size, num_age_groups=num_age_groups,
                              base_channels=model.discriminator_channels,
                              activation=model.discriminator_activation, sync_batch_norm=model.sync_batch_norm,
                              name="discriminator")


def compile_gan(model, config):
    """Compiles a `GAN` (or subclass) with the training section's optimizer pair."""
    model.compile(*training_helpers.make_optimizer_pair(config.training), jit_compile=config.training.jit_compile,
                  steps_per_execution=config.training.steps_per_execution)
    return model


def build_training_model(config):
    gan = GAN(build_generator(config), build_discriminator(config), ema_decay=config.training.ema_decay,
              seed=config.runtime.seed)
    return compile_gan(gan, config)


FAMILY = ModelFamily(
    name="dcgan",
    config_class=DCGANConfig,
    build_training_model=build_training_model,
    build_inference_model=build_generator,
    paper="Radford, Metz, Chintala: Unsupervised Representation Learning with DCGANs, ICLR 2016 (seed 003)",
    docs="docs/families/dcgan.md",
)
