"""Build RAGAN's networks from an `ExperimentConfig`."""

from ragan_tf.models.ragan.discriminator import Discriminator
from ragan_tf.models.ragan.generator import Generator


def build_generator(config):
    """The `Generator` of `config.data` (image size, age groups) and `config.model` (widths, depths)."""
    model = config.model
    return Generator(
        image_size=config.data.image_size,
        num_age_groups=config.data.num_age_groups,
        base_channels=model.base_channels,
        max_channels=model.max_channels,
        encoder_downsamples=model.encoder_downsamples,
        encoder_residual_blocks=model.encoder_residual_blocks,
        modulator_downsamples=model.modulator_downsamples,
        age_code_dim=model.age_code_dim,
        decoder_blocks=model.decoder_blocks,
        sync_batch_norm=model.sync_batch_norm,
        name="generator",
    )


def build_discriminator(config):
    """The `Discriminator` of `config.data` and `config.model.discriminator_*` widths."""
    return Discriminator(
        image_size=config.data.image_size,
        num_age_groups=config.data.num_age_groups,
        base_channels=config.model.discriminator_base_channels,
        max_channels=config.model.discriminator_max_channels,
        name="discriminator",
    )
