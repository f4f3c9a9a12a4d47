"""The conditional beta-VAE (seed 004): networks, the objective's terms, conditioning, both aging modes."""

import math
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from ragan_tf.config import ConfigError, load_config
from ragan_tf.models.cvae import conditional_vae as cvae
from ragan_tf.models.cvae.cvae_decoder import CVAEDecoder
from ragan_tf.models.cvae.cvae_encoder import CVAEEncoder
from ragan_tf.models.registry import get_family

TINY = Path(__file__).resolve().parents[1] / "pipelines" / "cvae_synthetic_tiny.yaml"


def randomised_ager(aging="condition", seed=0):
    """The tiny pipeline's ager with weights drawn large enough that the condition shows in the output."""
    config = load_config(TINY, [f"model.aging={aging}"])
    ager = get_family("cvae").build_inference_model(config)
    rng = np.random.default_rng(seed)
    ager.set_weights([rng.normal(0, 0.3, weight.shape).astype("float32") for weight in ager.get_weights()])
    return config, ager


def test_the_seeds_widths_and_shapes():
    encoder = CVAEEncoder(128, 12)
    decoder = CVAEDecoder(128, 12)
    assert [layer.filters for layer in encoder.convolutions] == [16, 32, 64, 128] and encoder.latent_dim == 256
    mu, log_variance = encoder(np.zeros((2, 128, 128, 3), "float32"), np.zeros((2, 12), "float32"))
    assert mu.shape == log_variance.shape == (2, 256)
    assert [layer.filters for layer in decoder.upsamplings] == [64, 32, 16] and decoder.start == 8
    assert decoder(np.zeros((2, 256), "float32"), np.zeros((2, 12), "float32")).shape == (2, 128, 128, 3)


def test_kl_term_against_its_closed_form():
    mu = np.array([[1.0, 0.0], [0.0, 0.0]], "float32")
    log_variance = np.array([[0.0, math.log(2.0)], [0.0, 0.0]], "float32")
    # 0.5 * sum(sigma^2 + mu^2 - 1 - log sigma^2): (1 + 1 - 1 - 0) + (2 + 0 - 1 - ln 2); the standard normal: 0
    expected = [0.5 * (1.0 + 1.0 - math.log(2.0)), 0.0]
    np.testing.assert_allclose(np.asarray(cvae.kl_divergence(mu, log_variance)), expected, rtol=1e-6, atol=1e-7)


def test_reparameterisation_gradients():
    mu = tf.Variable([[0.5, -1.0]])
    log_variance = tf.Variable([[0.0, math.log(4.0)]])
    noise = tf.constant([[2.0, -0.5]])
    with tf.GradientTape(persistent=True) as tape:
        z = cvae.reparameterize(mu, log_variance, noise)
        total = tf.reduce_sum(z)
    np.testing.assert_allclose(z.numpy(), [[0.5 + 2.0, -1.0 + 2.0 * -0.5]], rtol=1e-6)
    np.testing.assert_allclose(tape.gradient(total, mu).numpy(), [[1.0, 1.0]])
    # dz / d log_var = 0.5 * exp(log_var / 2) * noise
    np.testing.assert_allclose(tape.gradient(total, log_variance).numpy(), [[0.5 * 1.0 * 2.0, 0.5 * 2.0 * -0.5]],
                               rtol=1e-6)


def test_conditions_age_and_gender_with_unknowns():
    condition = np.asarray(cvae.condition_vector(np.array([0, 2], "int32"), np.array([1, -1], "int32"), 3))
    np.testing.assert_array_equal(condition, [[1, 0, 0, 0, 1], [0, 0, 1, 0.5, 0.5]])
    uniform = np.asarray(cvae.condition_vector(None, None, 4, batch_size=1))
    np.testing.assert_allclose(uniform, [[0.25] * 4 + [0.5, 0.5]])


def test_the_age_and_gender_conditions_change_the_output():
    config, ager = randomised_ager()
    image = np.random.default_rng(1).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    young, old = (np.asarray(ager(image, None, np.array([group, group], "int32"), source_age=np.array([5, 5])))
                  for group in (0, 9))
    assert np.abs(young - old).mean() > 1e-3
    male, female = (np.asarray(ager(image, None, np.array([9, 9]), gender=np.array([g, g]))) for g in (0, 1))
    assert np.abs(male - female).mean() > 1e-3
    # a continuous age between groups 0 and 1 lies between their outputs where they differ
    halfway = np.zeros((2, config.data.num_age_groups), "float32")
    halfway[:, :2] = 0.5
    mixed = np.asarray(ager(image, None, halfway))
    assert np.abs(mixed - young).mean() > 1e-4


def test_shift_mode_moves_the_posterior_mean_by_the_group_mean_difference():
    config, ager = randomised_ager("shift")
    latent = config.model.latent_dim
    means = np.random.default_rng(2).normal(0, 1, (config.data.num_age_groups, latent)).astype("float32")
    ager.group_means.assign(means)
    image = np.random.default_rng(3).uniform(-1, 1, (1, 32, 32, 3)).astype("float32")
    source, target, gender = np.array([2], "int32"), np.array([7], "int32"), np.array([0], "int32")
    aged = np.asarray(ager(image, None, target, source_age=source, gender=gender))
    mu, _ = ager.encode(image, source, gender)
    expected = ager.decoder(np.asarray(mu) + means[7] - means[2], cvae.condition_vector(source, gender, 10))
    # float32: the shift is summed in another order than here (eps 1.2e-7 x |z| ~ 3 x the random decoder's
    # gain, at most ~100): 1e-4 bounds that rounding, far below the 0.1s a wrong shift moves the output by
    np.testing.assert_allclose(aged, np.asarray(expected), atol=1e-4)
    same = np.asarray(ager(image, None, source, source_age=source, gender=gender))  # no shift: the reconstruction
    np.testing.assert_allclose(same, np.asarray(ager.decoder(mu, cvae.condition_vector(source, gender, 10))), atol=1e-4)
    assert np.abs(aged - same).mean() > 1e-2  # the shift does move it


def test_group_means_are_the_mean_posterior_means_of_each_group():
    _, ager = randomised_ager("shift")
    rng = np.random.default_rng(4)
    images = rng.integers(0, 256, (6, 32, 32, 3)).astype("uint8")
    groups, genders = np.array([1, 1, 3, 3, 3, 8], "int32"), np.array([0, 1, -1, 0, 1, 1], "int32")
    batches = [{"image": images[:4], "age_group": groups[:4], "gender": genders[:4]},
               {"image": images[4:], "age_group": groups[4:], "gender": genders[4:]}]
    counts = cvae.compute_group_means(ager, batches)
    assert counts.tolist() == [0, 2, 0, 3, 0, 0, 0, 0, 1, 0]
    mu, _ = ager.encode(images.astype("float32") / 127.5 - 1.0, groups, genders)
    mu = np.asarray(mu)
    means = np.asarray(ager.group_means)
    np.testing.assert_allclose(means[3], mu[2:5].mean(0), atol=1e-5)
    np.testing.assert_allclose(means[8], mu[5], atol=1e-5)
    assert not means[0].any()  # no faces: no shift


def test_beta_warm_up_and_config_checks():
    config = load_config(TINY, ["model.beta=4", "model.beta_warmup_steps=10"])
    model = get_family("cvae").build_training_model(config)
    assert [float(model.beta_at(step)) for step in (0, 5, 10, 20)] == [0.0, 2.0, 4.0, 4.0]
    assert float(get_family("cvae").build_training_model(load_config(TINY, ["model.beta=4"])).beta_at(0)) == 4.0
    with pytest.raises(ConfigError, match="divisible by 2 \\*\\* len\\(model.channels\\) = 8"):
        load_config(TINY, ["model.channels=[4, 8, 16]", "data.image_size=36"])
    with pytest.raises(ConfigError, match="model.aging"):
        load_config(TINY, ["model.aging=sideways"])


def test_training_end_stores_the_age_shift_vectors(tmp_path):
    from ragan_tf.training.train import train

    config = load_config(TINY, [f"runtime.run_dir={tmp_path / 'run'}", "model.aging=shift", "training.epochs=1"])
    train(config, verbose=0)
    import keras

    ager = keras.models.load_model(tmp_path / "run" / "inference_model.keras")
    assert ager.aging == "shift" and np.abs(np.asarray(ager.group_means)).sum() > 0


@pytest.fixture(scope="module")
def cvae_export(tmp_path_factory):
    from ragan_tf.export import export_saved_model
    from ragan_tf.training.train import train

    root = tmp_path_factory.mktemp("cvae_export")
    train(load_config(TINY, [f"runtime.run_dir={root / 'run'}"]), verbose=0)
    return export_saved_model(root / "run", root / "export", verbose=False)


def test_the_export_serves_the_source_age_and_gender(cvae_export):
    import json

    card = json.loads((cvae_export / "signature.json").read_text())
    assert "with_source" in card["signatures"] and "source_age" in card["signatures"]["with_source"]["inputs"]
    serve = tf.saved_model.load(str(cvae_export)).signatures["with_source"]
    rng = np.random.default_rng(5)
    image = tf.constant(rng.integers(0, 256, (2, 40, 50, 3)).astype("uint8"))
    mask = tf.ones((2, 40, 50, 1))

    def aged(source_age, gender):
        return serve(image=image, face_mask=mask, target_age=tf.constant([5, 70]), source_age=tf.constant(source_age),
                     gender=tf.constant(gender))["aged_image"].numpy().astype(int)

    first, second = aged([30, -1], [0, -1]), aged([60, -1], [1, -1])
    assert first.shape == (2, 40, 50, 3)
    assert np.abs(first[0] - second[0]).mean() > 0 and np.array_equal(first[1], second[1])  # unknown stays unknown
    with pytest.raises(tf.errors.InvalidArgumentError, match="gender must be 0"):
        aged([30, 30], [0, 2])
    with pytest.raises(tf.errors.InvalidArgumentError, match="source_age must be finite ages"):
        aged([130, 30], [0, 0])


def test_age_fills_the_source_from_the_user_or_the_photo(cvae_export):
    from fake_photos import photo_with_face

    from ragan_tf.inference.ager import Ager, AgingError

    photo = photo_with_face(3, 160, (240, 260))
    given = Ager(cvae_export, detector="hog", source_age=30, gender=1).age_image(photo, [5, 70])
    assert given.sources == [(30, 1)] and given.photos.shape == (2, 240, 260, 3)
    estimated = Ager(cvae_export, detector="hog").age_image(photo, [70])
    ((age, gender),) = estimated.sources
    assert 0 <= age <= 120 and gender in (0, 1)  # the photo model found the face and read both
    with pytest.raises(AgingError, match="--source-age must be"):
        Ager(cvae_export, source_age=200)


@pytest.mark.slow
def test_age_shift_vectors_move_the_synthetic_age_reading_the_right_way(tmp_path):
    """A briefly trained model (32 px, 600 steps): shifting young faces toward the oldest group reads
    older, and old faces toward the youngest reads younger, by the synthetic age regressor."""
    import keras

    from ragan_tf.data import synthetic_faces
    from ragan_tf.data.age_groups import get_scheme
    from ragan_tf.evaluation.age_estimators import SyntheticAgeEstimator
    from ragan_tf.evaluation.evaluate import synthetic_test_set
    from ragan_tf.training.train import train
    from ragan_tf.visualization import to_uint8

    config = load_config(TINY, [f"runtime.run_dir={tmp_path / 'run'}", "model.aging=shift", "model.channels=[16, 32]",
                                "model.latent_dim=32", "data.synthetic_identities=200", "training.batch_size=16",
                                "training.epochs=4", "training.steps_per_epoch=150", "model.group_mean_examples=1024"])
    train(config, verbose=0)
    ager = keras.models.load_model(tmp_path / "run" / "inference_model.keras")
    train_ids, _ = synthetic_faces.split_identities(config.data.synthetic_identities,
                                                    config.data.synthetic_test_fraction, config.data.synthetic_seed)
    estimator = SyntheticAgeEstimator.train(32, train_ids[:100], epochs=6, seed=0)
    faces = synthetic_test_set(config.data, 200)
    scheme = get_scheme(config.data.age_groups)
    groups = scheme.group_of(faces.ages).astype("int32")
    for chosen, target in ((groups <= 3, scheme.num_groups - 1), (groups >= 8, 0)):
        images, source = faces.images[chosen], groups[chosen]
        before = estimator.predict_ages(to_uint8(images))
        after = estimator.predict_ages(to_uint8(np.asarray(ager(images, None, np.full(len(images), target, "int32"),
                                                                 source_age=source))))
        moved = float(np.mean(after - before))
        assert (moved > 5.0) if target else (moved < -5.0), (target, moved)


def test_evaluate_gives_the_conditional_vae_each_test_face_s_own_age_group_and_gender():
    from ragan_tf.evaluation.evaluate import Metrics, evaluate_rows, network_functions, synthetic_test_set
    from ragan_tf.data.age_groups import get_scheme

    config, ager = randomised_ager()
    faces = synthetic_test_set(config.data, 4)
    scheme = get_scheme(config.data.age_groups)
    function = network_functions(ager).age_transformer
    assert function.takes_source
    groups, genders = faces.source(np.arange(4), scheme)
    assert list(groups) == list(scheme.group_of(faces.ages)) and set(genders) <= {0, 1}
    target = np.full(4, 9, "int32")
    given = function(faces.images, faces.masks, target, source=(groups, genders))
    np.testing.assert_allclose(given, np.asarray(ager(faces.images, faces.masks, target, source_age=groups,
                                                      gender=genders)), atol=1e-6)
    assert np.abs(given - function(faces.images, faces.masks, target)).mean() > 1e-4  # unknown source differs
    seen = []

    def recording(images, masks, groups, source=None):
        seen.append(source)
        return function(images, masks, groups, source=source)

    recording.takes_source = True
    evaluate_rows(recording, faces, scheme, Metrics(exact_truth=False), batch_size=4, progress=False)
    assert len(seen) == scheme.num_groups and all(np.array_equal(s[0], groups) for s in seen)


def test_evaluating_an_export_gives_it_the_faces_own_age_group_and_gender(cvae_export):
    from ragan_tf.evaluation.evaluate import load_model_functions

    functions, _ = load_model_functions(cvae_export)
    aging = functions.age_transformer
    assert aging.takes_source  # through the export's with_source signature
    rng = np.random.default_rng(2)
    images = (rng.integers(0, 256, (2, 32, 32, 3)) / 127.5 - 1).astype("float32")
    masks, targets = np.ones((2, 32, 32, 1), "float32"), np.array([0, 1])
    young = aging(images, masks, targets, (np.array([0, 0]), np.array([0, 1])))
    old = aging(images, masks, targets, (np.array([1, 1]), np.array([0, 1])))
    unknown = aging(images, masks, targets)
    assert young.shape == (2, 32, 32, 3) and np.abs(young - old).max() > 0 and np.abs(young - unknown).max() > 0
