"""RAGAN's options that depart from the paper (off by default): what each adds, and that off is the paper."""

import keras
import numpy as np
import pytest
from keras import ops
from test_ragan_training import IMAGE_SIZE, NUM_AGE_GROUPS, random_batches, tiny_networks

from ragan_tf.config import ConfigError, TrainingConfig, load_config
from ragan_tf.layers import AdaINResidualBlock
from ragan_tf.models.ragan import losses
from ragan_tf.models.ragan.discriminator import Discriminator
from ragan_tf.models.ragan.generator import Generator
from ragan_tf.models.ragan.ragan import RAGAN
from ragan_tf.models.ragan.ragan_family import RAGANConfig, build_discriminator, build_generator
from ragan_tf.models.training_helpers import make_optimizer_pair

RNG = np.random.default_rng(3)
IMAGES = RNG.uniform(-1, 1, (4, IMAGE_SIZE, IMAGE_SIZE, 3)).astype("float32")
GROUPS = np.array([0, 1, 2, 1], "int32")


def test_paper_defaults_leave_every_option_off():
    config = RAGANConfig()
    options = ("lambda_age_cls", "decoder_upsampling", "paste_background", "decoder_skips", "decoder_modulation")
    paper = (0.0, "nearest", False, False, "every_block")
    assert tuple(getattr(config, name) for name in options) == paper
    for pipeline in ("ragan_ffhq_aging_256", "ragan_synthetic_256", "ragan_synthetic_64"):
        model = load_config(f"{__file__.rsplit('/tests/', 1)[0]}/pipelines/{pipeline}.yaml").model
        assert tuple(getattr(model, name) for name in options) == paper, pipeline


# ------------------------------------------------------------ auxiliary age classifier
def test_age_classification_loss_is_the_softmax_cross_entropy_of_each_example():
    logits = RNG.normal(size=(4, 3)).astype("float32")
    expected = -np.log(np.exp(logits[np.arange(4), GROUPS]) / np.exp(logits).sum(axis=1))
    np.testing.assert_allclose(losses.age_classification_loss(logits, GROUPS), expected, rtol=1e-5)


def test_classification_terms_join_both_objectives_with_their_weight():
    real, fake = RNG.normal(size=4).astype("float32"), RNG.normal(size=4).astype("float32")
    age_logits = RNG.normal(size=(4, 3)).astype("float32")
    cross_entropy = np.asarray(losses.age_classification_loss(age_logits, GROUPS))
    plain, _ = losses.compute_discriminator_loss(real, fake, np.zeros(4, "float32"))
    with_cls, terms = losses.compute_discriminator_loss(real, fake, np.zeros(4, "float32"), 1.0, age_logits, GROUPS, 0.5)
    np.testing.assert_allclose(with_cls, np.asarray(plain) + 0.5 * cross_entropy, rtol=1e-6)
    assert float(terms["d_cls"]) == pytest.approx(cross_entropy.mean(), rel=1e-6)
    images = np.zeros((4, 2, 2, 3), "float32")
    plain, _ = losses.compute_generator_loss(fake, images, images, images)
    with_cls, terms = losses.compute_generator_loss(fake, images, images, images, 1.0, 10.0, 1.0, age_logits, GROUPS, 2.0)
    np.testing.assert_allclose(with_cls, np.asarray(plain) + 2.0 * cross_entropy, rtol=1e-6)
    assert set(terms) == {"g_adv", "rec", "cyc", "g_cls"}


def test_discriminator_age_classifier_shares_the_trunk_and_keeps_the_real_fake_logits():
    discriminator = Discriminator(IMAGE_SIZE, NUM_AGE_GROUPS, base_channels=8, max_channels=16, age_classifier=True)
    logits, age_logits = discriminator.logits_and_age_logits(IMAGES, GROUPS)
    np.testing.assert_allclose(logits, discriminator(IMAGES, GROUPS), atol=1e-6)
    assert tuple(age_logits.shape) == (4, NUM_AGE_GROUPS)
    assert np.abs(np.asarray(age_logits) - np.asarray(discriminator.all_logits(IMAGES))).max() > 1e-4
    clone = Discriminator.from_config(discriminator.get_config())
    assert clone.age_classifier is not None and len(clone.weights) == len(discriminator.weights)
    plain = Discriminator(IMAGE_SIZE, NUM_AGE_GROUPS, base_channels=8, max_channels=16)
    assert len(plain.weights) == len(discriminator.weights) - 2
    with pytest.raises(ValueError, match="no age classifier"):
        plain.logits_and_age_logits(IMAGES, GROUPS)


def _model(age_classifier):
    generator, _ = tiny_networks()
    discriminator = Discriminator(IMAGE_SIZE, NUM_AGE_GROUPS, base_channels=8, max_channels=16,
                                  age_classifier=age_classifier)
    model = RAGAN(generator, discriminator, NUM_AGE_GROUPS, ema_decay=0.9)
    model.compile(*make_optimizer_pair(TrainingConfig(learning_rate=1e-3)), lambda_age_cls=1.0)
    return model


def test_training_with_the_classifier_logs_and_trains_it():
    keras.utils.set_random_seed(0)
    model = _model(age_classifier=True)
    head = model.discriminator.age_classifier.kernel.numpy()
    history = model.fit(random_batches(8, 4), epochs=1, verbose=0).history
    assert np.isfinite(history["d_cls"][0]) and np.isfinite(history["g_cls"][0])
    assert np.abs(model.discriminator.age_classifier.kernel.numpy() - head).max() > 0
    # ln(3) at chance with 3 groups: the untrained head's loss is about that, far from 0 or from diverged.
    assert 0.3 < history["d_cls"][0] < 3.0
    plain = _model(age_classifier=False)
    assert "d_cls" not in plain.fit(random_batches(8, 4), epochs=1, verbose=0).history


def test_the_classifier_term_pushes_the_generator_toward_the_target_group():
    # With only the classification term, one generator step must lower CE(C(G(x, y')), y').
    keras.utils.set_random_seed(1)
    model = _model(age_classifier=True)
    model.compile(*make_optimizer_pair(TrainingConfig(learning_rate=1e-3)), lambda_adv=0.0, lambda_rec=0.0,
                  lambda_cyc=0.0, lambda_age_cls=1.0)
    batch = next(iter(random_batches(4, 4, fixed_targets=True)))
    images, masks, _, targets = model._unpack(batch)

    def generator_cross_entropy():
        _, age_logits = model.discriminator.logits_and_age_logits(model.generator(images, masks, targets), targets)
        return float(ops.mean(losses.age_classification_loss(age_logits, targets)))

    discriminator_weights = model.discriminator.get_weights()
    before = generator_cross_entropy()
    model.train_step(batch)
    model.discriminator.set_weights(discriminator_weights)  # judge the new generator with the old classifier
    assert generator_cross_entropy() < before


def test_config_builds_the_classifier_only_when_weighted():
    config = load_config(overrides=["data.image_size=32", "model.base_channels=8", "model.max_channels=16",
                                    "model.discriminator_base_channels=8", "model.discriminator_max_channels=16"])
    assert build_discriminator(config).age_classifier is None
    config.model.lambda_age_cls = 0.5
    assert build_discriminator(config).age_classifier is not None
    with pytest.raises(ConfigError, match="lambda_age_cls"):
        load_config(overrides=["model.lambda_age_cls=-1"])


# ------------------------------------------------------------ bilinear upsampling
def test_bilinear_upsampling_has_no_two_pixel_blocks():
    inputs = RNG.normal(size=(1, 4, 4, 8)).astype("float32")
    style = RNG.normal(size=(1, 6)).astype("float32")
    blocks = {kind: AdaINResidualBlock(8, resample="up", upsampling=kind) for kind in ("nearest", "bilinear")}
    for block in blocks.values():
        block.build(inputs.shape, style.shape)
    blocks["bilinear"].set_weights(blocks["nearest"].get_weights())
    # The shortcut of a nearest block repeats each input pixel 2x2; the bilinear one interpolates.
    shortcuts = {kind: np.asarray(block._shortcut(inputs)) for kind, block in blocks.items()}
    np.testing.assert_array_equal(shortcuts["nearest"][:, ::2, ::2], shortcuts["nearest"][:, 1::2, ::2])
    assert np.abs(shortcuts["bilinear"][:, ::2, ::2] - shortcuts["bilinear"][:, 1::2, ::2]).max() > 1e-3
    assert AdaINResidualBlock.from_config(blocks["bilinear"].get_config()).upsampling == "bilinear"
    with pytest.raises(ValueError, match="upsampling"):
        AdaINResidualBlock(8, resample="up", upsampling="cubic")


def test_generator_passes_the_upsampling_to_the_decoder_and_round_trips():
    generator = Generator(IMAGE_SIZE, NUM_AGE_GROUPS, base_channels=8, max_channels=16, encoder_downsamples=1,
                          encoder_residual_blocks=0, modulator_downsamples=1, age_code_dim=8, decoder_blocks=0,
                          decoder_upsampling="bilinear")
    assert [block.upsampling for block in generator.decoder.blocks if block.resample == "up"] == ["bilinear"]
    clone = Generator.from_config(generator.get_config())
    clone.set_weights(generator.get_weights())
    np.testing.assert_array_equal(clone(IMAGES, np.ones((4, IMAGE_SIZE, IMAGE_SIZE, 1), "float32"), GROUPS),
                                  generator(IMAGES, np.ones((4, IMAGE_SIZE, IMAGE_SIZE, 1), "float32"), GROUPS))
    with pytest.raises(ConfigError, match="decoder_upsampling"):
        load_config(overrides=["model.decoder_upsampling=cubic"])
    config = load_config(overrides=["data.image_size=32", "model.base_channels=8", "model.max_channels=16",
                                    "model.decoder_upsampling=bilinear"])
    assert build_generator(config).decoder_upsampling == "bilinear"


def test_networks_without_the_new_keys_still_load():
    # Configs saved before these options existed have no `age_classifier` / `upsampling` keys.
    config = Discriminator(IMAGE_SIZE, NUM_AGE_GROUPS, base_channels=8, max_channels=16).get_config()
    del config["age_classifier"]
    assert Discriminator.from_config(config).age_classifier is None
    block_config = AdaINResidualBlock(8, resample="up").get_config()
    del block_config["upsampling"]
    assert AdaINResidualBlock.from_config(block_config).upsampling == "nearest"


# ------------------------------------------------------------ decoder skip connections
SKIP_NETWORK = dict(base_channels=8, max_channels=16, encoder_downsamples=2, encoder_residual_blocks=1,
                    modulator_downsamples=1, age_code_dim=8, decoder_blocks=1)


def test_decoder_skips_add_the_encoder_features_and_zeroed_are_the_paper_generator():
    masks = np.ones((4, IMAGE_SIZE, IMAGE_SIZE, 1), "float32")
    paper = Generator(IMAGE_SIZE, NUM_AGE_GROUPS, **SKIP_NETWORK)
    skips = Generator(IMAGE_SIZE, NUM_AGE_GROUPS, decoder_skips=True, **SKIP_NETWORK)
    projections = {variable.path for block in skips.decoder.skip_projections for variable in block.weights}
    assert len(projections) == 4  # a 1x1 kernel and bias per upsampled resolution
    shared = {variable.path.replace(skips.name, ""): variable for variable in skips.weights
              if variable.path not in projections}
    for variable in paper.weights:
        shared[variable.path.replace(paper.name, "")].assign(variable)
    with_skips = np.asarray(skips(IMAGES, masks, GROUPS))
    for block in skips.decoder.skip_projections:
        block.set_weights([np.zeros_like(weight) for weight in block.get_weights()])
    np.testing.assert_allclose(skips(IMAGES, masks, GROUPS), paper(IMAGES, masks, GROUPS), atol=1e-6)
    assert np.abs(with_skips - np.asarray(paper(IMAGES, masks, GROUPS))).max() > 1e-3
    # Both resolutions are wired to the encoder's features of the same size.
    _, _, encoder_skips = skips.identity_encoder.encode(IMAGES, masks)
    assert [tuple(feature.shape[1:]) for feature in encoder_skips] == [(IMAGE_SIZE, IMAGE_SIZE, 8),
                                                                      (IMAGE_SIZE // 2, IMAGE_SIZE // 2, 16)]
    with pytest.raises(ValueError, match="skips"):
        skips.decoder.face_features(encoder_skips[-1], np.zeros((4, 8), "float32"))


def test_decoder_skips_round_trip_and_come_from_the_config():
    generator = Generator(IMAGE_SIZE, NUM_AGE_GROUPS, decoder_skips=True, **SKIP_NETWORK)
    clone = Generator.from_config(generator.get_config())
    clone.set_weights(generator.get_weights())
    masks = np.ones((4, IMAGE_SIZE, IMAGE_SIZE, 1), "float32")
    np.testing.assert_array_equal(clone(IMAGES, masks, GROUPS), generator(IMAGES, masks, GROUPS))
    config = load_config(overrides=["data.image_size=32", "model.base_channels=8", "model.max_channels=16",
                                    "model.decoder_skips=true"])
    assert build_generator(config).decoder.skips is True
    assert build_generator(load_config(overrides=["data.image_size=32", "model.base_channels=8",
                                                  "model.max_channels=16"])).decoder.skip_projections == []


# ------------------------------------------------------------ decoder modulation
def test_bottleneck_modulation_leaves_the_up_blocks_blind_to_the_age_code():
    masks = np.ones((4, IMAGE_SIZE, IMAGE_SIZE, 1), "float32")
    generators = {modulation: Generator(IMAGE_SIZE, NUM_AGE_GROUPS, decoder_modulation=modulation, **SKIP_NETWORK)
                  for modulation in ("every_block", "bottleneck")}
    decoder = generators["bottleneck"].decoder
    assert [type(block).__name__ for block in decoder.blocks] == ["AdaINResidualBlock", "ResidualBlock",
                                                                  "ResidualBlock"]
    # The up blocks give the same features for any age code; the bottleneck block does not.
    features = RNG.normal(size=(4, IMAGE_SIZE // 4, IMAGE_SIZE // 4, 16)).astype("float32")
    codes = [RNG.normal(size=(4, 8)).astype("float32") for _ in range(2)]
    up = [np.asarray(decoder.blocks[1](features)) for _ in codes]
    np.testing.assert_array_equal(up[0], up[1])
    bottleneck = [np.asarray(decoder.blocks[0](features, code)) for code in codes]
    assert np.abs(bottleneck[0] - bottleneck[1]).max() > 1e-3
    # Still an age transformer: the target group changes the output (once the age modulator's
    # conditional batch norm is not at its group-independent initialisation).
    for variable in generators["bottleneck"].age_modulator.trainable_variables:
        variable.assign(RNG.normal(1.0, 0.5, variable.shape).astype("float32"))
    outputs = [np.asarray(generators["bottleneck"](IMAGES, masks, np.full(4, group, "int32"))) for group in (0, 2)]
    assert np.abs(outputs[0] - outputs[1]).max() > 1e-4
    clone = Generator.from_config(generators["bottleneck"].get_config())
    clone.set_weights(generators["bottleneck"].get_weights())
    np.testing.assert_array_equal(clone(IMAGES, masks, GROUPS), generators["bottleneck"](IMAGES, masks, GROUPS))
    # An instance norm's affine has 2C parameters, an AdaIN's style projection 2C x (code + 1).
    assert generators["bottleneck"].count_params() < generators["every_block"].count_params()


def test_decoder_modulation_comes_from_the_config_and_is_checked():
    small = ["data.image_size=32", "model.base_channels=8", "model.max_channels=16"]
    config = load_config(overrides=small + ["model.decoder_modulation=bottleneck"])
    assert build_generator(config).decoder.modulation == "bottleneck"
    with pytest.raises(ConfigError, match="model.decoder_modulation"):
        load_config(overrides=small + ["model.decoder_modulation=none"])
    with pytest.raises(ConfigError, match="decoder_blocks"):
        load_config(overrides=small + ["model.decoder_modulation=bottleneck", "model.decoder_blocks=0"])


# ------------------------------------------------------------ background paste
def test_paste_background_keeps_the_input_outside_the_mask_and_the_face_inside():
    masks = np.zeros((4, IMAGE_SIZE, IMAGE_SIZE, 1), "float32")
    masks[:, 4:12, 4:12] = 1.0
    kwargs = dict(base_channels=8, max_channels=16, encoder_downsamples=1, encoder_residual_blocks=0,
                  modulator_downsamples=1, age_code_dim=8, decoder_blocks=0)
    plain = Generator(IMAGE_SIZE, NUM_AGE_GROUPS, **kwargs)
    pasted = Generator(IMAGE_SIZE, NUM_AGE_GROUPS, paste_background=True, **kwargs)
    pasted.set_weights(plain.get_weights())
    plain_output, pasted_output = (np.asarray(g(IMAGES, masks, GROUPS)) for g in (plain, pasted))
    outside = masks[..., 0] == 0
    np.testing.assert_array_equal(pasted_output[outside], IMAGES[outside])
    np.testing.assert_array_equal(pasted_output[~outside], plain_output[~outside])
    assert np.abs(plain_output[outside] - IMAGES[outside]).mean() > 1e-2  # the paper's output is not a copy
    assert Generator.from_config(pasted.get_config()).paste_background
    config = load_config(overrides=["data.image_size=32", "model.base_channels=8", "model.max_channels=16",
                                    "model.paste_background=true"])
    assert build_generator(config).paste_background
