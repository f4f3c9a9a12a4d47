import numpy as np

from ragan_tf.data import synthetic_faces
from ragan_tf.evaluation.synthetic_age_regressor import SyntheticAgeRegressor, cosine_decay_steps, render_batch
from ragan_tf.sampling import age_to_every_group, aging_grid


def test_render_batch_matches_render():
    images = render_batch([(3, 20.0), (4, 70.0)], 32)
    assert images.shape == (2, 32, 32, 3) and images.dtype == np.float32
    np.testing.assert_allclose(images[1], synthetic_faces.render(4, 70.0, 32).image / 127.5 - 1.0, atol=1e-6)


def test_age_regressor_trains_and_predicts_years():
    regressor = SyntheticAgeRegressor.train(32, identities=range(6), images_per_identity=4, epochs=1, batch_size=8)
    ages = regressor.predict_ages(render_batch([(100, 10.0), (101, 80.0)], 32))
    assert ages.shape == (2,) and np.all(np.isfinite(ages))


def test_age_regressor_trains_on_fewer_images_than_a_batch():
    # `evaluate --estimator-identities 4`: 32 renders, batch 64 -> one step per epoch, not decay_steps=0.
    assert cosine_decay_steps(32, 64, 8) == 8 and cosine_decay_steps(2400, 64, 8) == 296
    regressor = SyntheticAgeRegressor.train(32, identities=range(2), images_per_identity=4, epochs=2)
    assert np.all(np.isfinite(regressor.predict_ages(render_batch([(100, 10.0)], 32))))


def test_aging_grid_has_one_column_per_group_and_the_input():
    calls = []

    def fake_generator(images, masks, groups, training=False):
        calls.append(int(np.asarray(groups)[0]))
        return np.full_like(np.asarray(images), float(np.asarray(groups)[0]) / 10.0)

    images = np.zeros((2, 16, 16, 3), np.float32)
    masks = np.ones((2, 16, 16, 1), np.float32)
    aged = age_to_every_group(fake_generator, images, masks, 3)
    assert aged.shape == (2, 3, 16, 16, 3) and calls == [0, 1, 2]
    np.testing.assert_allclose(aged[:, 2], 0.2)
    picture = aging_grid(fake_generator, images, masks, ["a", "b", "c"], source_groups=[0, 2])
    assert picture.shape[1] > 4 * 16 and picture.shape[0] > 2 * 16
