"""Age-cGAN as a model family (`model.type: age_cgan`): an age transformer and a conditional sampler.

Antipov, Baccouche, Dugelay 2017 (seed 001): 64x64x3 faces, z of 100, six
age categories (`data.age_groups: age_cgan`) concatenated to z and to the
discriminator; the discriminator's blocks with batch norm except the first;
an encoder of four convolution blocks and two dense layers trained on about
100K (G(z, y), z) pairs with a Euclidean loss; latent optimisation from
z0 = E(x), pixelwise or identity-preserving, by L-BFGS-B. See
docs/families/age_cgan.md for what we chose.
"""

import dataclasses

from ragan_tf.config import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, ConfigError, OneOf, require_age_groups
from ragan_tf.models.face_recognition_resnet import FaceRecognitionEmbedding, load_face_recognition_resnet
from ragan_tf.models import training_helpers
from ragan_tf.models.age_cgan.age_cgan import AgeCGAN, AgeCGANAger
from ragan_tf.models.age_cgan.age_cgan_encoder import CONV_BLOCKS, AgeCGANEncoder
from ragan_tf.models.age_cgan.age_cgan_generator import AgeCGANGenerator
from ragan_tf.models.age_cgan.latent_optimization import OBJECTIVES, OPTIMIZERS
from ragan_tf.models.dcgan.dcgan_discriminator import ACTIVATIONS, DCGANDiscriminator
from ragan_tf.models.encoder_cdcgan.encoder_cdcgan_family import callbacks, compile_encoder_gan
from ragan_tf.models.registry import ModelFamily

#: `model.identity_network` values: dlib's ResNet face descriptor ported to Keras, or none.
IDENTITY_NETWORKS = ("dlib_resnet", "none")


@dataclasses.dataclass
class AgeCGANConfig:
    """Age-cGAN settings (`model.type: age_cgan`); the paper's are the defaults where it states them.

    `encoder_epochs`: the last epochs of `training.epochs`, generator frozen,
    encoder trained on `encoder_pairs` fixed pairs (0: fresh pairs each step).
    `identity_network`: the FR of the identity-preserving optimisation
    (`identity_weights`: dlib's `.dat` file; empty: the one the
    face-recognition-models package ships). `latent_*`: the optimisation
    the exported ager and `evaluate` run (`latent_iterations: 0`: E(x) only).
    """

    type: str = "age_cgan"
    noise_dim: int = 100
    generator_channels: int = 512
    generator_hidden_units: int = 2048
    discriminator_channels: int = 64
    discriminator_activation: str = "leaky_relu"
    encoder_channels: int = 32
    encoder_hidden_units: int = 1024
    encoder_epochs: int = 10
    encoder_pairs: int = 100_000
    identity_network: str = "dlib_resnet"
    identity_weights: str = ""
    latent_objective: str = "identity"
    latent_optimizer: str = "lbfgsb"
    latent_iterations: int = 50
    latent_tolerance: float = 1e-6
    latent_learning_rate: float = 0.05
    sync_batch_norm: bool = False

    LIMITS = {
        **dict.fromkeys(("noise_dim", "generator_channels", "generator_hidden_units", "discriminator_channels",
                         "encoder_channels", "encoder_hidden_units", "encoder_epochs"), AT_LEAST_ONE),
        **dict.fromkeys(("encoder_pairs", "latent_iterations"), NON_NEGATIVE),
        **dict.fromkeys(("latent_tolerance", "latent_learning_rate"), POSITIVE),
        "discriminator_activation": OneOf(ACTIVATIONS),
        "identity_network": OneOf(IDENTITY_NETWORKS),
        "latent_objective": OneOf(OBJECTIVES),
        "latent_optimizer": OneOf(OPTIMIZERS),
    }
    #: What the networks read (`ragan_tf.config.architecture`).
    ARCHITECTURE_FIELDS = ("data.image_size", "data.age_groups", "model.noise_dim", "model.generator_channels",
                           "model.generator_hidden_units", "model.discriminator_channels",
                           "model.discriminator_activation", "model.encoder_channels", "model.encoder_hidden_units",
                           "model.identity_network")

    def validate(self, experiment):
        size = experiment.data.image_size
        if not training_helpers.is_power_of_two(size) or size < 2**CONV_BLOCKS:
            raise ConfigError(f"model.type age_cgan needs data.image_size to be a power of two >= {2**CONV_BLOCKS}, "
                              f"got {size}.")
        upsamples = size.bit_length() - 4
        if self.generator_channels < 2 ** (upsamples - 1):
            raise ConfigError(f"model.generator_channels must be at least {2 ** (upsamples - 1)} at data.image_size "
                              f"{size}, got {self.generator_channels}.")
        require_age_groups(experiment, self.type)
        if self.encoder_epochs >= experiment.training.epochs:
            raise ConfigError(f"model.encoder_epochs must be at least 1 and below training.epochs "
                              f"({experiment.training.epochs}), got {self.encoder_epochs}.")
        if self.latent_objective == "identity" and self.identity_network == "none":
            raise ConfigError("model.latent_objective identity needs model.identity_network dlib_resnet; "
                              "with model.identity_network none use model.latent_objective pixel.")


def build_generator(config):
    model = config.model
    return AgeCGANGenerator(config.data.image_size, noise_dim=model.noise_dim, num_age_groups=config.data.num_age_groups,
                            base_channels=model.generator_channels, hidden_units=model.generator_hidden_units,
                            sync_batch_norm=model.sync_batch_norm, name="generator")


def build_discriminator(config):
    model = config.model
    return DCGANDiscriminator(config.data.image_size, num_age_groups=config.data.num_age_groups,
                              base_channels=model.discriminator_channels, activation=model.discriminator_activation,
                              sync_batch_norm=model.sync_batch_norm, name="discriminator")


def build_encoder(config):
    model = config.model
    return AgeCGANEncoder(config.data.image_size, noise_dim=model.noise_dim, base_channels=model.encoder_channels,
                          hidden_units=model.encoder_hidden_units, sync_batch_norm=model.sync_batch_norm,
                          name="encoder")


def build_identity_network(config):
    """The FR network of `model.identity_network`, or None."""
    if config.model.identity_network == "none":
        return None
    return FaceRecognitionEmbedding(load_face_recognition_resnet(config.model.identity_weights or None),
                                    name="identity_network")


def ager_options(config):
    model = config.model
    return dict(identity_network=build_identity_network(config), latent_objective=model.latent_objective,
                latent_optimizer=model.latent_optimizer, latent_iterations=model.latent_iterations,
                latent_tolerance=model.latent_tolerance, latent_learning_rate=model.latent_learning_rate)


def build_training_model(config):
    return compile_encoder_gan(AgeCGAN(
        build_generator(config), build_discriminator(config), build_encoder(config),
        encoder_pairs=config.model.encoder_pairs, ager_options=ager_options(config),
        ema_decay=config.training.ema_decay, seed=config.runtime.seed), config)


def build_inference_model(config):
    return AgeCGANAger(build_encoder(config), build_generator(config), name="ager", **ager_options(config))


FAMILY = ModelFamily(
    name="age_cgan",
    config_class=AgeCGANConfig,
    build_training_model=build_training_model,
    build_inference_model=build_inference_model,
    callbacks=callbacks,
    paper="Antipov, Baccouche, Dugelay: Face Aging with Conditional Generative Adversarial Networks, ICIP 2017 "
          "(seed 001)",
    docs="docs/families/age_cgan.md",
)
