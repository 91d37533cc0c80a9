import warnings

import numpy as np
import pytest

from fashion_t2i.metrics.frechet_distance import (
    feature_statistics,
    frechet_distance,
    frechet_distance_from_statistics,
)


def _diagonal_closed_form(mu_a, var_a, mu_b, var_b):
    # For diagonal S: tr(S_a + S_b - 2 (S_a S_b)^(1/2)) = sum (sqrt(a) - sqrt(b))^2.
    return np.sum((mu_a - mu_b) ** 2) + np.sum((np.sqrt(var_a) - np.sqrt(var_b)) ** 2)


def _random_covariance(rng, dim):
    m = rng.normal(size=(dim, dim))
    return m @ m.T / dim + 0.1 * np.eye(dim)


def test_feature_statistics_are_mean_and_unbiased_covariance():
    features = np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 4.0]])
    mu, sigma = feature_statistics(features)
    np.testing.assert_allclose(mu, [2.0, 2.0])
    np.testing.assert_allclose(sigma, [[4.0, 3.0], [3.0, 3.0]])


def test_set_with_itself_is_zero():
    features = np.random.default_rng(0).normal(size=(500, 16))
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-8)


def test_known_statistics_match_hand_computed_closed_form():
    mu_a, var_a = np.array([0.0, 1.0, -2.0]), np.array([1.0, 4.0, 0.25])
    mu_b, var_b = np.array([1.0, 1.0, 0.0]), np.array([4.0, 1.0, 1.0])
    # 1 + 0 + 4 (means) + (1-2)^2 + (2-1)^2 + (0.5-1)^2 (covariances) = 7.25
    distance = frechet_distance_from_statistics(mu_a, np.diag(var_a), mu_b, np.diag(var_b))
    assert distance == pytest.approx(7.25)
    assert distance == pytest.approx(_diagonal_closed_form(mu_a, var_a, mu_b, var_b))


def test_samples_of_two_gaussians_approach_the_closed_form():
    rng = np.random.default_rng(1)
    mu_a, var_a = np.array([0.0, 2.0]), np.array([1.0, 9.0])
    mu_b, var_b = np.array([1.0, 0.0]), np.array([4.0, 1.0])
    features_a = mu_a + np.sqrt(var_a) * rng.normal(size=(100_000, 2))
    features_b = mu_b + np.sqrt(var_b) * rng.normal(size=(100_000, 2))
    expected = _diagonal_closed_form(mu_a, var_a, mu_b, var_b)  # 1 + 4 + 1 + 4 = 10
    assert frechet_distance(features_a, features_b) == pytest.approx(expected, rel=0.02)


def test_rotation_of_both_sets_leaves_the_distance_unchanged():
    # Rotated diagonal covariances are full and do not commute with each
    # other's square roots, exercising the general matrix square root.
    rng = np.random.default_rng(2)
    rotation, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    mu_a, var_a = rng.normal(size=4), rng.uniform(0.5, 3, size=4)
    mu_b, var_b = rng.normal(size=4), rng.uniform(0.5, 3, size=4)
    sigma_a = rotation @ np.diag(var_a) @ rotation.T
    sigma_b = rotation @ np.diag(var_b) @ rotation.T
    distance = frechet_distance_from_statistics(
        rotation @ mu_a, sigma_a, rotation @ mu_b, sigma_b
    )
    assert distance == pytest.approx(_diagonal_closed_form(mu_a, var_a, mu_b, var_b))


def test_general_covariances_match_eigenvalues_of_the_product():
    # tr((S_a S_b)^(1/2)) is the sum of square roots of the eigenvalues of S_a S_b.
    rng = np.random.default_rng(3)
    sigma_a, sigma_b = _random_covariance(rng, 6), _random_covariance(rng, 6)
    mu_a, mu_b = rng.normal(size=6), rng.normal(size=6)
    trace_sqrt = np.sum(np.sqrt(np.linalg.eigvals(sigma_a @ sigma_b).real))
    expected = (
        np.sum((mu_a - mu_b) ** 2) + np.trace(sigma_a) + np.trace(sigma_b) - 2 * trace_sqrt
    )
    assert frechet_distance_from_statistics(mu_a, sigma_a, mu_b, sigma_b) == pytest.approx(
        expected
    )


def test_symmetric_and_non_negative():
    rng = np.random.default_rng(4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for num, dim in [(200, 8), (5, 32)]:
            features_a = rng.normal(size=(num, dim))
            features_b = 0.5 * rng.normal(size=(num, dim)) + 0.1
            ab = frechet_distance(features_a, features_b)
            ba = frechet_distance(features_b, features_a)
            assert ab == pytest.approx(ba, rel=1e-8)
            assert ab > 0


@pytest.mark.parametrize("num, dim", [(200, 8), (5, 32)])
def test_a_set_against_itself_and_a_shifted_copy(num, dim):
    # Shifting every vector by s keeps the covariance, so d^2 = ||s||^2,
    # also when the covariance is singular (num <= dim).
    rng = np.random.default_rng(4)
    features = rng.normal(size=(num, dim))
    shift = rng.normal(size=dim)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-9)
        assert frechet_distance(features, features + shift) == pytest.approx(
            np.sum(shift**2), rel=1e-6
        )
        assert frechet_distance(features + shift, features) == pytest.approx(
            np.sum(shift**2), rel=1e-6
        )


def test_fewer_samples_than_dimensions_warns_and_stays_finite():
    rng = np.random.default_rng(5)
    features = rng.normal(size=(10, 64))
    with pytest.warns(UserWarning, match="singular"):
        distance = frechet_distance(features, features + 1.0)
    # Same covariance, means 1 apart in each of 64 dimensions.
    assert distance == pytest.approx(64.0, rel=1e-6)


@pytest.mark.parametrize(
    "features_a, features_b, match",
    [
        (np.zeros((4, 3)), np.zeros((4, 2)), "same D"),
        (np.zeros(4), np.zeros((4, 1)), r"\[N, D\]"),
        (np.zeros((1, 3)), np.zeros((4, 3)), "at least 2"),
        (np.full((4, 3), np.inf), np.zeros((4, 3)), "NaN or infinite"),
    ],
)
def test_invalid_input_raises(features_a, features_b, match):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(ValueError, match=match):
            frechet_distance(features_a, features_b)
