"""Inception Score from classifier probabilities (numpy only)."""

import numpy as np

# Rows of float32 softmax outputs sum to 1 only up to rounding.
_ROW_SUM_TOLERANCE = 1e-3


def inception_score(probabilities, splits=10):
    """Inception Score of a set of generated images.

        IS = exp( E_x KL( p(y|x) || p(y) ) ),  p(y) = E_x p(y|x)

    where p(y|x) is the classifier's class distribution for image x. It is
    high when each image is classified confidently (low entropy p(y|x)) and
    the images cover many classes (high entropy p(y)); it lies in
    [1, number of classes].

    As in the original implementation (Salimans et al.) the rows are cut in
    `splits` contiguous parts (boundaries `i * N // splits`), the score is
    computed on each part with its own marginal p(y), and the mean and
    standard deviation of the part scores are returned. `splits=1` gives the
    single score of TF-GAN's `classifier_score_from_logits`. 0 log 0 counts
    as 0, so one-hot rows are allowed.

    Reference:
        Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016,
        https://arxiv.org/abs/1606.03498.

    Args:
        probabilities: `[N, C]` array; row i is p(y|x_i), non-negative and
            summing to 1 (softmax outputs of, e.g., `InceptionClassifier`).
        splits: number of parts, `1 <= splits <= N` (10 in the literature,
            on N = 50,000 images).

    Returns:
        `(mean, std)` as Python floats: the mean and the (population)
        standard deviation of the part scores.

    Raises:
        ValueError: `probabilities` is not 2-D, is empty, has negative or
            non-finite entries, has rows that do not sum to 1, or has fewer
            rows than `splits`; or `splits` is not a positive integer.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2 or probabilities.size == 0:
        raise ValueError(
            "probabilities must be a non-empty [N, C] array of class "
            f"probabilities, got shape {probabilities.shape}."
        )
    if not np.all(np.isfinite(probabilities)) or np.any(probabilities < 0):
        raise ValueError("probabilities must be finite and non-negative.")
    row_sums = probabilities.sum(axis=1)
    worst = int(np.argmax(np.abs(row_sums - 1.0)))
    if abs(row_sums[worst] - 1.0) > _ROW_SUM_TOLERANCE:
        raise ValueError(
            f"Row {worst} of probabilities sums to {row_sums[worst]:.6f}, not 1: "
            "pass softmax probabilities, not logits."
        )
    if isinstance(splits, bool) or not isinstance(splits, (int, np.integer)) or splits < 1:
        raise ValueError(f"splits must be a positive integer, got {splits!r}.")
    num_examples = probabilities.shape[0]
    if num_examples < splits:
        raise ValueError(
            f"Need at least splits={splits} rows of probabilities, got {num_examples}: "
            "pass more images or fewer splits."
        )

    scores = []
    for i in range(splits):
        part = probabilities[i * num_examples // splits : (i + 1) * num_examples // splits]
        marginal = part.mean(axis=0, keepdims=True)
        # p log(p / q) with 0 log 0 = 0; q > 0 wherever p > 0 since q averages p.
        safe_part = np.where(part > 0, part, 1.0)
        safe_marginal = np.where(part > 0, marginal, 1.0)
        kl = np.sum(part * (np.log(safe_part) - np.log(safe_marginal)), axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))
