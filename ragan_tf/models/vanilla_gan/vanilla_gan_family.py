"""The vanilla GAN as a model family (`model.type: vanilla_gan`): an unconditional sampler.

Seed 003 trains it with the same objective as its DCGAN (`ragan_tf.models.gan.GAN`);
it says "gradient descent" without an optimizer or rate: ours is the DCGAN's
Adam 2e-4 / beta1 0.5 (set in the pipelines), so that the seed's comparison
of the two isolates the architecture. See docs/families/vanilla_gan.md.
"""

import dataclasses
import typing

from ragan_tf.config import AT_LEAST_ONE, ConfigError
from ragan_tf.models.dcgan.dcgan_family import compile_gan
from ragan_tf.models.gan.gan import GAN
from ragan_tf.models.registry import ModelFamily
from ragan_tf.models.vanilla_gan.vanilla_discriminator import VanillaDiscriminator
from ragan_tf.models.vanilla_gan.vanilla_generator import VanillaGenerator


@dataclasses.dataclass
class VanillaGANConfig:
    """Vanilla GAN widths (`model.type: vanilla_gan`); the seed's are the defaults.

    Widths, the kernel size and each discriminator width are at least 1;
    `data.image_size` must be divisible by 4.
    """

    type: str = "vanilla_gan"
    noise_channels: int = 16
    filters: int = 128
    kernel_size: int = 5
    discriminator_units: typing.List[int] = dataclasses.field(default_factory=lambda: [512, 256])

    LIMITS = dict.fromkeys(("noise_channels", "filters", "kernel_size", "discriminator_units"), AT_LEAST_ONE)
    #: What the networks read (`ragan_tf.config.architecture`); unconditional: no `data.age_groups`.
    ARCHITECTURE_FIELDS = ("data.image_size", "model.noise_channels", "model.filters", "model.kernel_size",
                           "model.discriminator_units")

    def validate(self, experiment):
        if experiment.data.image_size % 4:
            raise ConfigError(f"model.type vanilla_gan needs data.image_size divisible by 4, "
                              f"got {experiment.data.image_size}.")


def build_generator(config):
    model = config.model
    return VanillaGenerator(config.data.image_size, noise_channels=model.noise_channels, filters=model.filters,
                            kernel_size=model.kernel_size, name="generator")


def build_training_model(config):
    discriminator = VanillaDiscriminator(config.data.image_size, units=config.model.discriminator_units,
                                         name="discriminator")
    gan = GAN(build_generator(config), discriminator, ema_decay=config.training.ema_decay, seed=config.runtime.seed)
    return compile_gan(gan, config)


FAMILY = ModelFamily(
    name="vanilla_gan",
    config_class=VanillaGANConfig,
    build_training_model=build_training_model,
    build_inference_model=build_generator,
    paper="Goodfellow et al. 2014, as configured by seed 003 (Roy and Quadir)",
    docs="docs/families/vanilla_gan.md",
)
