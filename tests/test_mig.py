"""The Mutual Information Gap on hand-built codes whose MIG is known."""

import numpy as np
import pytest

from ragan_tf.evaluation.mig import discretize, entropy, mig, mutual_information

N = 20_000


def factors(rng):
    """Three independent discrete factors (2, 5 and 8 values) and a continuous one (age)."""
    return np.stack([rng.integers(0, 2, N), rng.integers(0, 5, N), rng.integers(0, 8, N),
                     rng.uniform(0, 80, N)], axis=1)


def test_entropy_and_mutual_information_by_hand():
    assert entropy([0, 1, 0, 1]) == pytest.approx(np.log(2))
    assert entropy([3, 3, 3]) == 0.0
    assert mutual_information([0, 1, 0, 1], [5, 7, 5, 7]) == pytest.approx(np.log(2))  # one determines the other
    assert mutual_information([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(0.0, abs=1e-12)  # independent
    np.testing.assert_array_equal(discretize([0.0, 0.49, 0.5, 1.0], bins=2), [0, 0, 1, 1])
    np.testing.assert_array_equal(discretize(np.full((3, 2), 7.0)), np.zeros((3, 2)))


def test_a_code_that_copies_each_factor_into_one_dimension_has_mig_one():
    rng = np.random.default_rng(0)
    truth = factors(rng)
    noise = rng.standard_normal((N, 3))
    codes = np.concatenate([truth[:, [2, 0, 3, 1]] + 0.0, noise], axis=1)  # shuffled order, 3 nuisance dimensions
    result = mig(codes, truth, continuous=(3,), names=["gender", "hair", "shape", "age"])
    assert result["best_dimension"] == {"gender": 1, "hair": 3, "shape": 0, "age": 2}
    # each copy carries all of its factor's entropy; the other dimensions only the plug-in bias
    # (about (20 - 1) * (8 - 1) / (2 N) = 0.003 nats for the 8-valued factor)
    assert result["mig"] > 0.98 and min(result["gaps"].values()) > 0.97


def test_a_random_code_has_mig_near_zero_and_a_duplicated_one_exactly_zero():
    rng = np.random.default_rng(1)
    truth = factors(rng)
    assert mig(rng.standard_normal((N, 6)), truth, continuous=(3,))["mig"] < 0.01
    duplicated = np.concatenate([truth[:, :3], truth[:, :3], rng.standard_normal((N, 2))], axis=1)
    result = mig(duplicated, truth[:, :3])
    assert result["mig"] == pytest.approx(0.0, abs=1e-12)  # two dimensions hold each factor equally


def test_a_code_mixing_two_factors_in_one_dimension_scores_between():
    rng = np.random.default_rng(2)
    a, b = rng.integers(0, 4, N), rng.integers(0, 4, N)
    codes = np.stack([a * 4 + b, rng.standard_normal(N)], axis=1)  # one dimension determines both factors
    gaps = mig(codes, np.stack([a, b], axis=1), bins=16)["gaps"]
    assert gaps["factor_0"] > 0.97 and gaps["factor_1"] > 0.97  # MIG does not penalise one dimension for two factors
    partial = np.stack([a + rng.normal(0, 0.6, N), rng.standard_normal(N)], axis=1)
    assert 0.2 < mig(partial, a[:, None])["mig"] < 0.9  # a noisy copy keeps only part of the information


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="D >= 2"):
        mig(np.zeros((10, 1)), np.zeros((10, 1)))
    with pytest.raises(ValueError, match="10 codes but 9"):
        mig(np.zeros((10, 2)), np.zeros((9, 1)))
