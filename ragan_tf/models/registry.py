"""The model families, keyed by the config's `model.type`.

Each family lives in its own package under `ragan_tf/models/` and defines,
in its `*_family.py` module, its config dataclass (widths, depths, loss
weights) and a `ModelFamily` named `FAMILY`. `train`, `export`, `evaluate`
and the training callbacks go through `get_family(config.model.type)`; none
of them branches on a family's name. Families are imported on first use, so
listing them (`ragan-tf train --help`) does not import TensorFlow.
"""

import dataclasses
import importlib
import typing

#: model.type -> (module defining FAMILY, one-line description). Order: the help text's.
FAMILY_MODULES = {
    "ragan": ("ragan_tf.models.ragan.ragan_family",
              "Re-Aging GAN (ICCV 2021): age transformer, 10 FFHQ-Aging groups"),
    "encoder_cdcgan": ("ragan_tf.models.encoder_cdcgan.encoder_cdcgan_family",
                       "encoder + conditional DCGAN (seed 000): age transformer and conditional sampler"),
    "dcgan": ("ragan_tf.models.dcgan.dcgan_family", "DCGAN (Radford et al. 2016; seed 003): sampler"),
    "vanilla_gan": ("ragan_tf.models.vanilla_gan.vanilla_gan_family",
                    "the seed 003 vanilla GAN (dense discriminator): sampler"),
    "cvae": ("ragan_tf.models.cvae.cvae_family",
             "conditional beta-VAE (seed 004): age transformer, age condition or age-shift vectors"),
    "age_cgan": ("ragan_tf.models.age_cgan.age_cgan_family",
                 "Age-cGAN (Antipov et al. 2017; seed 001): age transformer with latent optimisation, and sampler"),
}


@dataclasses.dataclass(frozen=True)
class ModelFamily:
    """What `train`, `export` and `evaluate` need from a family.

    Attributes:
        name: the `model.type` value.
        config_class: the family's model-config dataclass (has a `type` field).
        build_training_model: `f(config) -> keras.Model`, compiled with built
            optimizers; `train` calls it inside the strategy's scope. The
            model's `inference_model` is the network that implements a task
            contract (`ragan_tf.models.tasks`) and is saved, exported and
            evaluated; `train_step_count` is a scalar counting its steps.
        build_inference_model: `f(config) -> keras.Model`, a freshly
            initialised inference network (the "untrained" baseline).
        callbacks: `f(config) -> [keras.callbacks.Callback]`, the family's own
            schedules (e.g. RAGAN's lambda_rec switch).
        paper: the reference the family reproduces.
        docs: the family's page under `docs/families/`.
    """

    name: str
    config_class: type
    build_training_model: typing.Callable
    build_inference_model: typing.Callable
    callbacks: typing.Callable = lambda config: []
    paper: str = ""
    docs: str = ""


def family_names():
    return list(FAMILY_MODULES)


def get_family(name):
    """The `ModelFamily` registered as `name`; a `ConfigError` naming `model.type` and listing the
    known families otherwise."""
    if not isinstance(name, str) or name not in FAMILY_MODULES:
        from ragan_tf.config import ConfigError  # lazily: `--help` lists families without TensorFlow

        raise ConfigError(f"Unknown model.type {name!r}; known families: {', '.join(FAMILY_MODULES)}.")
    family = importlib.import_module(FAMILY_MODULES[name][0]).FAMILY
    if family.name != name:
        raise RuntimeError(f"{FAMILY_MODULES[name][0]} registers {family.name!r}, not {name!r}.")
    return family


def families_help():
    """One line per family, for command-line help."""
    return "\n".join(f"  {name:15s} {description}" for name, (_, description) in FAMILY_MODULES.items())
