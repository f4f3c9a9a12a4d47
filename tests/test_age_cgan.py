"""Age-cGAN (seed 001): networks, the fixed encoder pair set, latent optimisation, serving."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from ragan_tf.config import ConfigError, load_config
from ragan_tf.models.age_cgan import latent_optimization as lo
from ragan_tf.models.age_cgan.age_cgan_encoder import AgeCGANEncoder
from ragan_tf.models.age_cgan.age_cgan_generator import AgeCGANGenerator
from ragan_tf.models.registry import get_family

TINY = Path(__file__).resolve().parents[1] / "pipelines" / "age_cgan_synthetic_tiny.yaml"


def randomised(network, seed, scale=0.15):
    """`network` with weights drawn large enough that its outputs vary with its input (the N(0, 0.02)
    initialisation makes an untrained generator's output almost constant)."""
    rng = np.random.default_rng(seed)
    network.set_weights([rng.normal(0, scale, w.shape).astype("float32") if w.ndim > 1 else w
                         for w in network.get_weights()])
    return network


def tiny_identity_network(size=32, seed=3):
    """A small random conv net standing in for the face-recognition network: images -> 16-d."""
    network = keras.Sequential([keras.Input((size, size, 3)),
                                keras.layers.Conv2D(8, 3, strides=2, activation="tanh"),
                                keras.layers.Conv2D(8, 3, strides=2, activation="tanh"),
                                keras.layers.Flatten(), keras.layers.Dense(16)])
    return randomised(network, seed, 0.3)


@pytest.fixture(scope="module")
def generator():
    keras.utils.set_random_seed(0)
    return randomised(AgeCGANGenerator(32, noise_dim=8, num_age_groups=6, base_channels=16, hidden_units=32), 0)


def targets(generator, count=4, seed=1):
    """Faces the generator can make exactly, G(z_true, y0), and a start z0 away from z_true."""
    rng = np.random.default_rng(seed)
    z_true = rng.standard_normal((count, generator.noise_dim)).astype("float32")
    source = np.arange(count, dtype="int32") % generator.num_age_groups
    images = np.asarray(generator(z_true, source, training=False))
    z0 = z_true + rng.normal(0, 1.0, z_true.shape).astype("float32")
    return images, source, z0


def test_the_networks_follow_the_seed():
    generator = AgeCGANGenerator(64, num_age_groups=6, base_channels=64, hidden_units=64)
    faces = generator(np.zeros((2, 100), "float32"), np.array([0, 5]), training=False)
    assert faces.shape == (2, 64, 64, 3) and np.abs(np.asarray(faces)).max() <= 1
    assert [layer.filters for layer in generator.convolutions] == [32, 16, 3]  # 8 -> 16 -> 32 -> 64
    assert generator.hidden.kernel.shape == (106, 64)  # z of 100 and the 6 one-hot age categories
    encoder = AgeCGANEncoder(64, noise_dim=100, base_channels=8, hidden_units=32)
    assert len(encoder.convolutions) == 4 and len(encoder.norms) == 3  # four blocks, batch norm except the first
    assert encoder(np.zeros((2, 64, 64, 3), "float32")).shape == (2, 100)
    with pytest.raises(ValueError, match="power-of-two image_size >= 16"):
        AgeCGANGenerator(48)


def test_the_age_condition_changes_the_face(generator):
    noise = np.random.default_rng(0).standard_normal((2, 8)).astype("float32")
    young = np.asarray(generator(noise, np.array([0, 0]), training=False))
    old = np.asarray(generator(noise, np.array([5, 5]), training=False))
    assert np.abs(young - old).mean() > 0.01


def test_lbfgsb_lowers_the_pixel_objective_from_z0(generator):
    images, source, z0 = targets(generator)
    result = lo.optimize_lbfgsb(lo.pixel_objective(generator, images, source), z0, iterations=60)
    # z_true reaches 0, so a working optimiser gets far below the start on every face
    assert np.all(result.final < 0.3 * result.initial), (result.initial, result.final)
    assert result.latent.shape == z0.shape and result.iterations >= 1 and result.evaluations >= result.iterations


def test_adam_in_the_graph_lowers_the_objective_with_a_tensor_budget(generator):
    images, source, z0 = targets(generator, seed=2)
    objective = lo.pixel_objective(generator, images, source)
    run = tf.function(lambda z, steps: lo.adam_steps(objective, z, steps, learning_rate=0.05))
    untouched = np.asarray(run(tf.constant(z0), tf.constant(0)))
    np.testing.assert_array_equal(untouched, z0)  # a zero budget leaves E(x) as it is
    refined = run(tf.constant(z0), tf.constant(100))
    assert np.all(np.asarray(objective(refined)) < 0.7 * np.asarray(objective(z0)))


def test_identity_preserving_lowers_the_face_recognition_distance_more_than_pixelwise(generator):
    # faces the generator cannot make exactly (a reachable face would give both objectives one minimum)
    images, source, z0 = targets(generator, count=6, seed=4)
    images = np.clip(images + np.random.default_rng(4).normal(0, 0.3, images.shape), -1, 1).astype("float32")
    identity_network = tiny_identity_network()
    identity = lo.identity_objective(generator, identity_network, images, source)
    pixel = lo.optimize_lbfgsb(lo.pixel_objective(generator, images, source), z0, iterations=60)
    preserving = lo.optimize_lbfgsb(identity, z0, iterations=60)
    start = np.asarray(identity(z0))
    after_pixel, after_identity = np.asarray(identity(pixel.latent)), np.asarray(identity(preserving.latent))
    # measured: start 255-260, pixelwise 79, identity-preserving 53-64 (BN's random gamma init varies)
    assert after_identity.mean() < after_pixel.mean() < start.mean(), (start, after_pixel, after_identity)


def test_the_encoder_pairs_are_a_fixed_set(tmp_path):
    config = load_config(TINY, ["model.encoder_pairs=5"])
    model = get_family("age_cgan").build_training_model(config)
    noise, groups = model.synthetic_pair(tf.constant([0, 3, 0, 4], tf.int32))
    noise, groups = np.asarray(noise), np.asarray(groups)
    np.testing.assert_array_equal(noise[0], noise[2])  # pair 0 is always the same pair
    assert np.abs(noise[0] - noise[1]).min() > 0 and groups.min() >= 0 and groups.max() < 6
    _, drawn, _ = model.draw_pairs(64, {})
    assert len({row.tobytes() for row in np.asarray(drawn)}) <= 5  # 64 draws from 5 pairs
    _, fresh, _ = get_family("age_cgan").build_training_model(load_config(TINY, ["model.encoder_pairs=0"])) \
        .draw_pairs(64, {})
    assert len({row.tobytes() for row in np.asarray(fresh)}) == 64


def test_identity_objective_needs_a_face_recognition_network():
    with pytest.raises(ConfigError, match="model.latent_objective identity needs model.identity_network"):
        load_config(TINY, ["model.latent_objective=identity"])
    with pytest.raises(ConfigError, match="model.latent_optimizer must be one of lbfgsb, adam"):
        load_config(TINY, ["model.latent_optimizer=sgd"])


def test_the_numpy_path_optimises_each_batch_once_for_every_target_group():
    config = load_config(TINY, ["model.latent_iterations=5"])
    ager = get_family("age_cgan").build_inference_model(config)
    randomised(ager.generator, 0)
    images = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    masks, source = np.ones((2, 32, 32, 1), "float32"), np.array([1, 2], "int32")
    calls = []
    optimize = ager.optimize
    ager.optimize = lambda *args, **kwargs: calls.append(1) or optimize(*args, **kwargs)
    outputs = [ager.age_faces(images, masks, np.full(2, group, "int32"), source) for group in range(6)]
    assert len(calls) == 1 and outputs[0].shape == (2, 32, 32, 3)
    assert np.abs(outputs[0] - outputs[5]).mean() > 0
    plain = ager.age_faces(images, masks, np.zeros(2, "int32"))  # no source age: E(x) only
    assert np.abs(plain - outputs[0]).mean() > 0


@pytest.fixture(scope="module")
def tiny_age_cgan_run(tmp_path_factory):
    """The tiny pipeline trained as `ragan-tf train` trains it (both phases): (model, run folder).
    One training shared by the tests that need a finished run (about a minute on 2 cores)."""
    from ragan_tf.training.train import train

    run_dir = tmp_path_factory.mktemp("age_cgan_run") / "run"
    model, _ = train(load_config(TINY, [f"runtime.run_dir={run_dir}"]), verbose=0)
    return model, run_dir


@pytest.fixture(scope="module")
def age_cgan_export(tiny_age_cgan_run, tmp_path_factory):
    from ragan_tf.export import export_saved_model

    return export_saved_model(tiny_age_cgan_run[1], tmp_path_factory.mktemp("age_cgan_export") / "export",
                              verbose=False)


def test_the_export_serves_aging_with_and_without_latent_optimisation(age_cgan_export):
    card = json.loads((age_cgan_export / "signature.json").read_text())
    assert {"with_source", "with_latent_optimization", "sample"} <= set(card["signatures"])
    signatures = tf.saved_model.load(str(age_cgan_export)).signatures
    image = tf.constant(np.random.default_rng(5).integers(0, 256, (2, 40, 50, 3)).astype("uint8"))
    target = tf.constant([5, 70])

    def optimised(iterations, identity=False, source=(30, 60)):
        return signatures["with_latent_optimization"](
            image=image, target_age=target, source_age=tf.constant(source), iterations=tf.constant(iterations),
            identity_preserving=tf.constant(identity))["aged_image"].numpy().astype(int)

    encoder_only = signatures["serving_default"](image=image, target_age=target)["aged_image"].numpy().astype(int)
    assert np.array_equal(optimised(0), encoder_only)  # no iterations: z = E(x), as serving_default
    refined = optimised(20)
    assert refined.shape == (2, 40, 50, 3) and np.abs(refined - encoder_only).max() > 0
    with pytest.raises(tf.errors.InvalidArgumentError, match="identity_preserving needs a face-recognition network"):
        optimised(5, identity=True)
    with pytest.raises(tf.errors.InvalidArgumentError, match="iterations must be within 0-10000"):
        optimised(-1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="source_age must be finite ages"):
        optimised(5, source=(30, 130))
    # with_source runs the model's own budget (the tiny pipeline's 3 steps), pixelwise
    with_source = signatures["with_source"](image=image, face_mask=tf.ones((2, 40, 50, 1)), target_age=target,
                                            source_age=tf.constant([30, 60]), gender=tf.constant([-1, -1]))
    np.testing.assert_array_equal(with_source["aged_image"].numpy().astype(int), optimised(3))


def test_identity_preserving_with_dlib_s_descriptor_beats_pixelwise_on_that_descriptor(generator):
    """The paper's pairing: FR = dlib's ResNet descriptor (the Keras port), built by the family."""
    pytest.importorskip("face_recognition_models")
    config = load_config(TINY, ["model.identity_network=dlib_resnet", "model.latent_objective=identity"])
    identity_network = get_family("age_cgan").build_inference_model(config).identity_network
    images, source, z0 = targets(generator, count=4, seed=6)
    images = np.clip(images + np.random.default_rng(6).normal(0, 0.3, images.shape), -1, 1).astype("float32")
    identity = lo.identity_objective(generator, identity_network, images, source)
    pixel = lo.optimize_lbfgsb(lo.pixel_objective(generator, images, source), z0, iterations=10)
    preserving = lo.optimize_lbfgsb(identity, z0, iterations=10)
    start, after_pixel = np.asarray(identity(z0)), np.asarray(identity(pixel.latent))
    after_identity = np.asarray(identity(preserving.latent))
    assert after_identity.mean() < min(after_pixel.mean(), start.mean()), (start, after_pixel, after_identity)


def test_a_missing_face_recognition_file_is_named():
    from ragan_tf.errors import RaganError

    config = load_config(TINY, ["model.identity_network=dlib_resnet", "model.latent_objective=identity",
                                "model.identity_weights=/nonexistent/dlib_resnet.dat"])
    with pytest.raises(RaganError, match="/nonexistent/dlib_resnet.dat"):
        get_family("age_cgan").build_inference_model(config)


def test_training_grids_refine_the_latent_with_each_face_s_own_age_group(tmp_path):
    from types import SimpleNamespace

    from ragan_tf.sampling import aging_grid
    from ragan_tf.training.callbacks import GridWriter

    config = load_config(TINY, ["model.latent_iterations=5"])
    ager = get_family("age_cgan").build_inference_model(config)
    randomised(ager.generator, 0)
    rng = np.random.default_rng(0)
    batch = {"image": rng.uniform(-1, 1, (2, 32, 32, 3)).astype("float32"),
             "face_mask": np.ones((2, 32, 32, 1), "float32"), "age_group": np.array([1, 4], "int32")}
    labels = [str(group) for group in range(6)]
    writer = GridWriter(batch, labels, tmp_path)
    writer.set_model(SimpleNamespace(inference_model=ager))
    grid = writer._grids("test")[""]
    plain = aging_grid(ager, batch["image"], batch["face_mask"], labels, source_groups=batch["age_group"], title="test")
    with_source = aging_grid(lambda x, m, g, training=False: ager.age_faces(x, m, g, source_age=batch["age_group"]),
                             batch["image"], batch["face_mask"], labels, source_groups=batch["age_group"], title="test")
    assert np.array_equal(grid, with_source) and not np.array_equal(grid, plain)


@pytest.mark.slow
def test_an_export_with_dlib_s_descriptor_serves_identity_preserving_optimisation(tmp_path):
    """~1 min: the SavedModel holds the ResNet and runs its gradients inside `with_latent_optimization`."""
    pytest.importorskip("face_recognition_models")
    from ragan_tf.export import export_saved_model
    from ragan_tf.training.train import train

    train(load_config(TINY, [f"runtime.run_dir={tmp_path / 'run'}", "model.identity_network=dlib_resnet",
                             "model.latent_objective=identity"]), verbose=0)
    signatures = tf.saved_model.load(str(export_saved_model(tmp_path / "run", tmp_path / "export",
                                                            verbose=False))).signatures
    image = tf.constant(np.random.default_rng(0).integers(0, 256, (2, 48, 48, 3)).astype("uint8"))

    def aged(identity):
        return signatures["with_latent_optimization"](
            image=image, target_age=tf.constant([5, 70]), source_age=tf.constant([30, 60]),
            iterations=tf.constant(5), identity_preserving=tf.constant(identity))["aged_image"].numpy()

    assert np.abs(aged(True).astype(int) - aged(False)).max() > 0  # the flag picks the other objective


def test_batch_norm_statistics_are_recomputed_for_the_final_weights():
    from ragan_tf.models.training_helpers import recalibrate_batch_norm

    network = keras.Sequential([keras.Input((3,)), keras.layers.BatchNormalization(momentum=0.99)])
    rng = np.random.default_rng(0)
    batches = [(rng.normal(5.0 + index, 2.0, (16, 3)).astype("float32"),) for index in range(4)]
    assert recalibrate_batch_norm(network, batches) == 4
    norm = network.layers[0]
    # the exact mean of the four batch means (a lagging 0.99 average would stay near 0)
    np.testing.assert_allclose(norm.moving_mean.numpy(), np.mean([b[0].mean(0) for b in batches], 0), rtol=1e-5)
    assert norm.momentum == 0.99  # restored


def test_training_ends_with_the_encoder_s_statistics_recomputed_for_its_final_weights(tiny_age_cgan_run):
    from ragan_tf.models import training_helpers
    from ragan_tf.models.encoder_cdcgan.encoder_conditional_dcgan import EncoderStatistics

    model = tiny_age_cgan_run[0]
    statistics = [w.numpy() for w in model.encoder.non_trainable_weights]
    callback = EncoderStatistics()
    pairs = (model.draw_pairs(model.encoder_statistics_batch_size, {}, seed=callback.seed + index)[0:1]
             for index in range(callback.batches))
    training_helpers.recalibrate_batch_norm(model.encoder, pairs)  # what the callback did after the last step
    for before, after in zip(statistics, model.encoder.non_trainable_weights):
        np.testing.assert_allclose(after.numpy(), before, rtol=1e-5, atol=1e-6)
