"""Fréchet distance between two feature sets (FID), numpy only.

    d^2 = ||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))

the Fréchet (2-Wasserstein) distance between the Gaussians N(mu_a, S_a) and
N(mu_b, S_b) fitted to two sets of features. On InceptionV3 pool features of
real and generated images it is the FID.

Reference:
    Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a
    Local Nash Equilibrium", NeurIPS 2017, https://arxiv.org/abs/1706.08500.
"""

import warnings

import numpy as np


def feature_statistics(features):
    """Mean and covariance of a feature set.

    Args:
        features: `[N, D]` array, one feature vector per row, `N >= 2`.

    Returns:
        `(mu, sigma)`: float64 arrays of shape `[D]` and `[D, D]`; `sigma` is
        the unbiased sample covariance (divisor N - 1, as TF-GAN and the
        original FID code).

    Raises:
        ValueError: `features` is not 2-D, has fewer than 2 rows, or has
            non-finite entries.
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[1] == 0:
        raise ValueError(
            f"features must be a [N, D] array, got shape {features.shape}."
        )
    if features.shape[0] < 2:
        raise ValueError(
            f"A covariance needs at least 2 feature vectors, got {features.shape[0]}."
        )
    if not np.all(np.isfinite(features)):
        raise ValueError("features contain NaN or infinite values.")
    return features.mean(axis=0), np.cov(features, rowvar=False).reshape(
        features.shape[1], features.shape[1]
    )


def frechet_distance(features_a, features_b):
    """Fréchet distance between the Gaussians fitted to two feature sets.

        d^2 = ||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))

    The covariance of N vectors has rank at most N - 1, so with N <= D it is
    singular. The distance is still well defined (see
    `frechet_distance_from_statistics`) but it is biased upwards and not
    comparable between sample sizes; a `UserWarning` says so. Report FID on
    many more samples than dimensions (10,000 or more for 2048-d Inception
    features).

    Args:
        features_a: `[N_a, D]` array, e.g. pool features of real images.
        features_b: `[N_b, D]` array, e.g. pool features of generated images.

    Returns:
        The squared distance d^2 as a Python float (FID reports d^2).

    Raises:
        ValueError: a set is not `[N, D]` with `N >= 2` and finite values, or
            the two sets differ in D.
    """
    mu_a, sigma_a = feature_statistics(features_a)
    mu_b, sigma_b = feature_statistics(features_b)
    dim = mu_a.shape[0]
    for name, features in (("features_a", features_a), ("features_b", features_b)):
        if len(features) <= dim:
            warnings.warn(
                f"{name} has {len(features)} vectors of dimension {dim}: its "
                "covariance is singular and the Fréchet distance is biased; use "
                "more samples than dimensions.",
                stacklevel=2,
            )
    return frechet_distance_from_statistics(mu_a, sigma_a, mu_b, sigma_b)


def frechet_distance_from_statistics(mu_a, sigma_a, mu_b, sigma_b):
    """Fréchet distance between N(mu_a, sigma_a) and N(mu_b, sigma_b).

        d^2 = ||mu_a - mu_b||^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^(1/2))

    S_a S_b is not symmetric, so its square root is not computed directly
    (scipy's `sqrtm` returns complex noise on near-singular products).
    Instead, with A = S_a^(1/2), S_a S_b = A (A S_b A) A^-1 has the same
    eigenvalues as the symmetric positive semi-definite A S_b A, hence

        tr((S_a S_b)^(1/2)) = tr((A S_b A)^(1/2)) = sum_i sqrt(lambda_i(A S_b A))

    Both square roots use `eigh`; eigenvalues that rounding makes slightly
    negative are clipped to 0, so singular covariances (fewer samples than
    dimensions) need no added epsilon. The result is clipped at 0 for the
    same reason.

    Use this with statistics cached from `feature_statistics`, e.g. those of
    the real images, computed once.

    Args:
        mu_a: `[D]` mean.
        sigma_a: `[D, D]` symmetric positive semi-definite covariance.
        mu_b: `[D]` mean.
        sigma_b: `[D, D]` symmetric positive semi-definite covariance.

    Returns:
        The squared distance d^2 as a non-negative Python float.

    Raises:
        ValueError: shapes are inconsistent or values are not finite.
    """
    mu_a = np.asarray(mu_a, dtype=np.float64)
    mu_b = np.asarray(mu_b, dtype=np.float64)
    sigma_a = np.asarray(sigma_a, dtype=np.float64)
    sigma_b = np.asarray(sigma_b, dtype=np.float64)
    dim = mu_a.shape[0] if mu_a.ndim == 1 else -1
    if (
        mu_a.shape != (dim,)
        or mu_b.shape != (dim,)
        or sigma_a.shape != (dim, dim)
        or sigma_b.shape != (dim, dim)
    ):
        raise ValueError(
            "Expected means of shape [D] and covariances of shape [D, D] with the "
            f"same D, got mu_a {mu_a.shape}, sigma_a {sigma_a.shape}, "
            f"mu_b {mu_b.shape}, sigma_b {sigma_b.shape}."
        )
    for array in (mu_a, mu_b, sigma_a, sigma_b):
        if not np.all(np.isfinite(array)):
            raise ValueError("Means and covariances must be finite.")

    sqrt_sigma_a = _psd_sqrt(sigma_a)
    product = sqrt_sigma_a @ sigma_b @ sqrt_sigma_a
    eigenvalues = np.linalg.eigvalsh((product + product.T) / 2)
    trace_sqrt_product = np.sum(np.sqrt(np.clip(eigenvalues, 0.0, None)))
    diff = mu_a - mu_b
    distance = diff @ diff + np.trace(sigma_a) + np.trace(sigma_b) - 2 * trace_sqrt_product
    return float(max(distance, 0.0))


def _psd_sqrt(matrix):
    """Symmetric square root of a positive semi-definite matrix via `eigh`."""
    eigenvalues, eigenvectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T
