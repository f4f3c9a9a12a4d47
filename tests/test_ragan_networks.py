"""RAGAN's networks: shapes, the face/background paths, conditioning, XLA, mixed precision, saving."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from ragan_tf.config import ExperimentConfig
from ragan_tf.models.ragan import (
    AgeModulator,
    Decoder,
    Discriminator,
    Generator,
    IdentityEncoder,
)
from ragan_tf.models.ragan.ragan_family import build_discriminator, build_generator

SIZE = 32
GROUPS = 4
TINY_GENERATOR = dict(base_channels=8, max_channels=32, age_code_dim=16)
TINY_DISCRIMINATOR = dict(base_channels=8, max_channels=32)
RNG = np.random.default_rng(0)
IMAGES = RNG.uniform(-1, 1, size=(2, SIZE, SIZE, 3)).astype("float32")
TARGETS = np.array([1, 3], "int32")

# The face: rows and columns [10, 22). The stem is 7x7, so pixels up to 3 away
# from the mask reach the face features; pixels 4 or more away do not.
FACE = slice(10, 22)
FACE_MASKS = np.zeros((2, SIZE, SIZE, 1), "float32")
FACE_MASKS[:, FACE, FACE] = 1.0
FAR_BACKGROUND = np.ones((SIZE, SIZE), bool)
FAR_BACKGROUND[6:26, 6:26] = False


def randomize_conditioning(generator):
    # Freshly built CBN tables are all ones/zeros, so every group would look the same.
    for block in generator.age_modulator.blocks:
        for norm in (block.first_norm, block.second_norm):
            for table in (norm.gamma_table, norm.beta_table):
                table.assign(RNG.normal(size=table.shape).astype("float32"))


@pytest.fixture(scope="module")
def generator():
    model = Generator(SIZE, GROUPS, **TINY_GENERATOR)
    randomize_conditioning(model)
    return model


@pytest.fixture(scope="module")
def discriminator():
    return Discriminator(SIZE, GROUPS, **TINY_DISCRIMINATOR)


def test_component_shapes(generator):
    identity_features, image_features = generator.identity_encoder(IMAGES, FACE_MASKS)
    assert tuple(identity_features.shape) == (2, 8, 8, 32)
    assert tuple(image_features.shape) == (2, SIZE, SIZE, 8)
    age_code = generator.age_modulator(identity_features, TARGETS)
    assert tuple(age_code.shape) == (2, 16)
    np.testing.assert_allclose(generator.age_code(IMAGES, FACE_MASKS, TARGETS), age_code, atol=1e-6)
    output = generator.decoder(identity_features, age_code, image_features, FACE_MASKS)
    assert tuple(output.shape) == (2, SIZE, SIZE, 3)
    assert np.abs(ops.convert_to_numpy(output)).max() <= 1.0


def test_generator_and_discriminator_shapes(generator, discriminator):
    assert tuple(generator(IMAGES, FACE_MASKS, TARGETS, training=True).shape) == (2, SIZE, SIZE, 3)
    assert tuple(discriminator(IMAGES, TARGETS).shape) == (2,)
    assert tuple(discriminator.all_logits(IMAGES).shape) == (2, GROUPS)
    assert len(discriminator.blocks) == 3  # 32 -> 16 -> 8 -> 4


def test_identity_features_ignore_the_background_beyond_the_stem_reach(generator):
    encoder = generator.identity_encoder
    reference, _ = encoder(IMAGES, FACE_MASKS)
    far_changed = IMAGES.copy()
    far_changed[:, FAR_BACKGROUND] = RNG.uniform(-1, 1, size=far_changed[:, FAR_BACKGROUND].shape)
    np.testing.assert_array_equal(encoder(far_changed, FACE_MASKS)[0], reference)
    near_changed = IMAGES.copy()
    near_changed[:, 7, 15] += 1.0  # three rows above the face: inside the 7x7 stem's reach
    assert np.abs(ops.convert_to_numpy(encoder(near_changed, FACE_MASKS)[0] - reference)).max() > 1e-4
    face_changed = IMAGES.copy()
    face_changed[:, 15, 15] += 1.0
    assert np.abs(ops.convert_to_numpy(encoder(face_changed, FACE_MASKS)[0] - reference)).max() > 1e-4


def test_background_flows_to_the_output_and_the_face_does_not_see_it(generator):
    reference = ops.convert_to_numpy(generator(IMAGES, FACE_MASKS, TARGETS))
    changed = IMAGES.copy()
    changed[:, FAR_BACKGROUND] = -changed[:, FAR_BACKGROUND]
    output = ops.convert_to_numpy(generator(changed, FACE_MASKS, TARGETS))
    assert np.abs(output - reference)[:, FAR_BACKGROUND].mean() > 1e-3
    # Face pixels whose 3x3 output neighbourhood lies inside the mask depend on f_id only.
    np.testing.assert_array_equal(output[:, 11:21, 11:21], reference[:, 11:21, 11:21])


def test_target_age_group_changes_the_face(generator):
    outputs = [ops.convert_to_numpy(generator(IMAGES, FACE_MASKS, np.full(2, g, "int32"))) for g in (0, 2)]
    assert np.abs(outputs[0] - outputs[1])[:, FACE, FACE].mean() > 1e-3
    np.testing.assert_array_equal(outputs[0], generator(IMAGES, FACE_MASKS, np.zeros(2, "int32")))
    one_hot = np.eye(GROUPS, dtype="float32")[[0, 0]]
    np.testing.assert_allclose(generator(IMAGES, FACE_MASKS, one_hot), outputs[0], atol=1e-6)


def test_discriminator_selects_the_age_groups_branch(discriminator):
    all_logits = ops.convert_to_numpy(discriminator.all_logits(IMAGES))
    assert np.abs(all_logits[:, 0] - all_logits[:, 1]).max() > 1e-6
    for groups in ([0, 3], [2, 1], [3, 3]):
        selected = discriminator(IMAGES, np.array(groups, "int32"))
        np.testing.assert_allclose(selected, all_logits[[0, 1], groups], atol=1e-6)


def test_every_trainable_variable_gets_a_gradient(generator, discriminator):
    # A parameter that a normalization cancels (a conv bias before a norm) gets none: Adam would move it by noise.
    weights = RNG.normal(size=IMAGES.shape).astype("float32")
    random_masks = (RNG.uniform(size=FACE_MASKS.shape) > 0.3).astype("float32")
    with tf.GradientTape(persistent=True) as tape:
        generator_loss = ops.sum(generator(IMAGES, random_masks, TARGETS, training=True) * weights)
        discriminator_loss = ops.sum(discriminator(IMAGES, TARGETS, training=True) * np.array([1.0, -2.0], "float32"))
    for model, loss in ((generator, generator_loss), (discriminator, discriminator_loss)):
        gradients = tape.gradient(loss, model.trainable_variables)
        no_gradient = [
            variable.path
            for variable, gradient in zip(model.trainable_variables, gradients)
            if gradient is None or np.abs(ops.convert_to_numpy(gradient)).max() < 1e-6
        ]
        assert no_gradient == []


def float64_copy(model):
    config = {key: value for key, value in model.get_config().items() if key != "dtype"}
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float64")
    try:
        copy = model.__class__.from_config(config)
    finally:
        keras.config.set_dtype_policy(previous)
    copy.set_weights([np.asarray(weight, np.float64) for weight in model.get_weights()])
    return copy


def test_xla_matches_eager(generator, discriminator):
    # The training-mode forward of both networks: what `fit(jit_compile=True)` compiles. XLA fuses
    # and reorders sums, which changes their rounding errors: for a sum of n terms these grow like
    # sqrt(n) units in the last place (ulp: machine epsilon times the terms' scale; Higham, Accuracy
    # and Stability of Numerical Algorithms, 4.2; the worst case, n, needs every rounding to err the
    # same way). The scale is the output's, but at least 1: the normalisations keep activations of
    # order 1 where an output is smaller (the discriminator's logits, ~0.02). With n <= 2048 (batch
    # statistics over 2 x 32 x 32 pixels; convolutions and dense layers sum <= 512 terms) in ~30
    # layers in sequence, that is 30 x sqrt(2048) ~ 1400 ulps; the bound allows 2**16, ~50 times more.
    # Measured: 150 and 350 ulps in float32 (1.8e-5 and 4.1e-5 on two x86 CPUs, whose vector widths
    # group the sums differently) and 300 in float64 (6.7e-14): alike in both precisions, so set by
    # the network, not the CPU; 200 times below the bound. In float32, 2**16 ulps would be 8e-3 and
    # hide a real difference (a dropped term, another normalisation: 1e-3 or more), hence float64,
    # where it is 1.5e-11.
    generator64, discriminator64 = float64_copy(generator), float64_copy(discriminator)

    def forward(images, masks, targets):
        return generator64(images, masks, targets, training=True), discriminator64(images, targets, training=True)

    inputs = (IMAGES.astype(np.float64), FACE_MASKS.astype(np.float64), TARGETS)
    compiled = tf.function(forward, jit_compile=True)
    for eager, xla in zip(forward(*inputs), compiled(*inputs)):
        assert eager.dtype == "float64"
        scale = max(1.0, float(np.abs(eager).max()))
        np.testing.assert_allclose(xla, eager, rtol=0, atol=2**16 * np.finfo(np.float64).eps * scale)


@pytest.fixture
def mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy("float32")


def test_mixed_precision_outputs_are_finite_float32(mixed_precision):
    generator = Generator(SIZE, GROUPS, **TINY_GENERATOR)
    discriminator = Discriminator(SIZE, GROUPS, **TINY_DISCRIMINATOR)
    assert generator.identity_encoder.stem.compute_dtype == "float16"
    outputs = (
        generator(IMAGES, FACE_MASKS, TARGETS, training=True),
        discriminator(IMAGES, TARGETS, training=True),
        discriminator.all_logits(IMAGES),
    )
    for output in outputs:
        assert keras.backend.standardize_dtype(output.dtype) == "float32"
        assert np.all(np.isfinite(ops.convert_to_numpy(output)))


def test_save_and_reload_give_identical_outputs(generator, discriminator, tmp_path):
    generator(IMAGES, FACE_MASKS, TARGETS, training=True)  # non-trivial batch-norm moving statistics
    for model, inputs in ((generator, (IMAGES, FACE_MASKS, TARGETS)), (discriminator, (IMAGES, TARGETS))):
        path = tmp_path / f"{model.name}.keras"
        model.save(path)
        reloaded = keras.saving.load_model(path)
        assert type(reloaded) is type(model)
        assert reloaded.get_config() == model.get_config()
        np.testing.assert_array_equal(reloaded(*inputs), model(*inputs))


def test_from_config_rebuilds_the_same_architecture(generator):
    clone = Generator.from_config(generator.get_config())
    assert [w.shape for w in clone.weights] == [w.shape for w in generator.weights]
    clone.set_weights(generator.get_weights())
    np.testing.assert_array_equal(clone(IMAGES, FACE_MASKS, TARGETS), generator(IMAGES, FACE_MASKS, TARGETS))


def test_components_round_trip_their_configs():
    for layer in (
        IdentityEncoder(8, 32, downsamples=1, residual_blocks=3),
        AgeModulator(GROUPS, channels=32, downsamples=2, age_code_dim=16, sync_batch_norm=True),
        Decoder(8, 32, upsamples=1, bottleneck_blocks=2),
    ):
        assert layer.__class__.from_config(layer.get_config()).get_config() == layer.get_config()


def test_builders_read_the_config():
    config = ExperimentConfig()
    config.data.image_size = SIZE
    config.model.base_channels, config.model.max_channels = 8, 16
    config.model.age_code_dim, config.model.decoder_blocks = 12, 1
    config.model.discriminator_base_channels, config.model.discriminator_max_channels = 4, 8
    generator, discriminator = build_generator(config), build_discriminator(config)
    assert generator.num_age_groups == discriminator.num_age_groups == config.data.num_age_groups
    assert (generator.image_size, generator.max_channels, generator.age_code_dim) == (SIZE, 16, 12)
    assert len(generator.decoder.blocks) == 1 + generator.encoder_downsamples
    assert (discriminator.base_channels, discriminator.max_channels) == (4, 8)
    # Built on construction, every sublayer included (what `fit` checks under a distribution strategy).
    for model in (generator, discriminator):
        assert [layer.path for layer in model._flatten_layers() if not layer.built] == []


def test_invalid_image_sizes_are_rejected():
    with pytest.raises(ValueError, match="divisible"):
        Generator(30, GROUPS, **TINY_GENERATOR)
    with pytest.raises(ValueError, match="modulator_downsamples"):
        Generator(16, GROUPS, **TINY_GENERATOR)
    with pytest.raises(ValueError, match="image_size"):
        Discriminator(4, GROUPS)
