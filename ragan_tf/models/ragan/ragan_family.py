"""RAGAN as a model family: its config section and how `train` builds it.

`model: {type: ragan, ...}` in a pipeline YAML. The paper states none of the
widths and depths (docs/families/ragan.md); its loss weights are the
defaults here: lambda_adv 1, lambda_rec 10 for the first 10 epochs then 1,
lambda_cyc 1. R1 weight and EMA are peers' values (docs/REPRODUCTION.md).
"""

import dataclasses

from ragan_tf.config import AT_LEAST_ONE, NON_NEGATIVE, ConfigError, OneOf, require_age_groups
from ragan_tf.layers.residual_blocks import UPSAMPLINGS
from ragan_tf.models import training_helpers
from ragan_tf.models.ragan.decoder import MODULATIONS
from ragan_tf.models.ragan.discriminator import Discriminator
from ragan_tf.models.ragan.generator import Generator
from ragan_tf.models.ragan.ragan import RAGAN, LambdaRecSchedule
from ragan_tf.models.registry import ModelFamily


@dataclasses.dataclass
class RAGANConfig:
    """Widths, depths and loss weights of RAGAN (`model.type: ragan`).

    Widths, `age_code_dim` and `modulator_downsamples` (where the target age
    enters) are at least 1; block counts and loss weights at least 0.
    `data.image_size` must be divisible by 2**`encoder_downsamples` and
    leave a bottleneck of at least 2**`modulator_downsamples` pixels; the
    age code must reach a decoder block (`decoder_blocks` or
    `encoder_downsamples` > 0); each `max_channels` caps its `base_channels`.
    """

    type: str = "ragan"
    base_channels: int = 64
    max_channels: int = 512
    encoder_downsamples: int = 2
    encoder_residual_blocks: int = 2
    modulator_downsamples: int = 3
    age_code_dim: int = 256
    decoder_blocks: int = 4
    discriminator_base_channels: int = 64
    discriminator_max_channels: int = 512
    sync_batch_norm: bool = False
    # Ours ("nearest" = StarGAN v2's): the decoder's upsampling.
    decoder_upsampling: str = "nearest"
    # Ours (false = the paper's feature-flow only): paste the input's pixels outside the face mask.
    paste_background: bool = False
    # Ours (false = the paper's bottleneck only): U-Net skips from the encoder to the decoder.
    decoder_skips: bool = False
    # Ours ("every_block" = the paper): which decoder blocks read the age code (AdaIN).
    decoder_modulation: str = "every_block"
    lambda_adv: float = 1.0
    lambda_rec: float = 10.0
    lambda_rec_late: float = 1.0
    lambda_rec_switch_epoch: int = 10
    lambda_cyc: float = 1.0
    r1_gamma: float = 1.0
    # Ours (0 = the paper): weight of an auxiliary age classifier on D's trunk (StarGAN's
    # domain classification loss) in both D's and G's objectives.
    lambda_age_cls: float = 0.0

    LIMITS = {
        **dict.fromkeys(("base_channels", "max_channels", "modulator_downsamples", "age_code_dim",
                         "discriminator_base_channels", "discriminator_max_channels"), AT_LEAST_ONE),
        **dict.fromkeys(("encoder_downsamples", "encoder_residual_blocks", "decoder_blocks", "lambda_adv",
                         "lambda_rec", "lambda_rec_late", "lambda_rec_switch_epoch", "lambda_cyc", "r1_gamma",
                         "lambda_age_cls"), NON_NEGATIVE),
        "decoder_upsampling": OneOf(UPSAMPLINGS),
        "decoder_modulation": OneOf(MODULATIONS),
    }
    #: What `build_generator` and `build_discriminator` read (`ragan_tf.config.architecture`);
    #: `decoder_upsampling` and `paste_background` add no weights but change what G computes;
    #: `sync_batch_norm` only changes where batch statistics are computed.
    ARCHITECTURE_FIELDS = (
        "data.image_size", "data.age_groups", "model.base_channels", "model.max_channels",
        "model.encoder_downsamples", "model.encoder_residual_blocks", "model.modulator_downsamples",
        "model.age_code_dim", "model.decoder_blocks", "model.decoder_upsampling", "model.paste_background",
        "model.decoder_skips", "model.decoder_modulation", "model.discriminator_base_channels", "model.discriminator_max_channels",
        ("model.lambda_age_cls > 0", lambda config: config.model.lambda_age_cls > 0),  # D's age classifier
    )

    def validate(self, experiment):
        size, downsamples = experiment.data.image_size, self.encoder_downsamples
        if size % 2**downsamples or size // 2**downsamples < 2**self.modulator_downsamples:
            raise ConfigError(
                f"data.image_size {size} must be divisible by 2**model.encoder_downsamples = {2**downsamples} "
                f"and leave a bottleneck of at least 2**model.modulator_downsamples = "
                f"{2**self.modulator_downsamples} pixels (it leaves {size / 2**downsamples:g})."
            )
        if not self.decoder_blocks and not downsamples:
            raise ConfigError("model.decoder_blocks and model.encoder_downsamples are both 0: no decoder block "
                              "would read the age code; set one of them to at least 1.")
        if not self.decoder_blocks and self.decoder_modulation == "bottleneck":
            raise ConfigError("model.decoder_modulation is bottleneck and model.decoder_blocks is 0: no decoder "
                              "block would read the age code; set model.decoder_blocks to at least 1.")
        for prefix in ("", "discriminator_"):
            base, cap = getattr(self, f"{prefix}base_channels"), getattr(self, f"{prefix}max_channels")
            if cap < base:
                raise ConfigError(f"model.{prefix}max_channels ({cap}) must be at least "
                                  f"model.{prefix}base_channels ({base}).")
        require_age_groups(experiment, self.type)


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
        decoder_upsampling=model.decoder_upsampling,
        paste_background=model.paste_background,
        decoder_skips=model.decoder_skips,
        decoder_modulation=model.decoder_modulation,
        name="generator",
    )


def build_discriminator(config):
    """The `Discriminator` of `config.data` and `config.model.discriminator_*` widths."""
    return Discriminator(
        image_size=config.data.image_size,
        num_age_groups=config.data.num_age_groups,
        base_channels=config.model.discriminator_base_channels,
        max_channels=config.model.discriminator_max_channels,
        age_classifier=config.model.lambda_age_cls > 0,
        name="discriminator",
    )


def build_training_model(config):
    """The compiled RAGAN training model (call inside the strategy's scope)."""
    model = RAGAN(
        build_generator(config),
        build_discriminator(config),
        num_age_groups=config.data.num_age_groups,
        ema_decay=config.training.ema_decay,
        seed=config.runtime.seed,
    )
    model.compile(
        *training_helpers.make_optimizer_pair(config.training),
        lambda_adv=config.model.lambda_adv,
        lambda_rec=config.model.lambda_rec,
        lambda_cyc=config.model.lambda_cyc,
        r1_gamma=config.model.r1_gamma,
        lambda_age_cls=config.model.lambda_age_cls,
        jit_compile=config.training.jit_compile,
        steps_per_execution=config.training.steps_per_execution,
    )
    return model


def callbacks(config):
    return [LambdaRecSchedule(config.model.lambda_rec_switch_epoch, config.model.lambda_rec_late)]


FAMILY = ModelFamily(
    name="ragan",
    config_class=RAGANConfig,
    build_training_model=build_training_model,
    build_inference_model=build_generator,
    callbacks=callbacks,
    paper="Makhmudkhujaev, Hong, Park: Re-Aging GAN, ICCV 2021",
    docs="docs/families/ragan.md",
)
