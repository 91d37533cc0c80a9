import numpy as np
import pytest

from fashion_t2i.metrics.inception_score import inception_score


def test_uniform_predictions_score_one():
    mean, std = inception_score(np.full((40, 7), 1 / 7), splits=4)
    assert mean == pytest.approx(1.0)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_balanced_confident_predictions_score_number_of_classes():
    # Every split of 10 rows holds each of the 5 classes twice.
    one_hot = np.tile(np.eye(5), (20, 1))
    mean, std = inception_score(one_hot, splits=10)
    assert mean == pytest.approx(5.0)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_hand_computed_case():
    # p(y) = [0.5, 0.5]; each row's KL = 0.9 ln 1.8 + 0.1 ln 0.2 = 0.3680642.
    probabilities = np.array([[0.9, 0.1], [0.1, 0.9]])
    mean, std = inception_score(probabilities, splits=1)
    assert mean == pytest.approx(1.4449348, rel=1e-6)
    assert std == 0.0


def test_splits_are_contiguous_with_their_own_marginal():
    # Split 1 one-hot over 2 of 3 classes (IS 2), split 2 uniform (IS 1). With
    # the marginal of all rows instead, split 1 alone would score 12/5.
    third = 1 / 3
    probabilities = np.array(
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [third, third, third], [third, third, third]]
    )
    mean, std = inception_score(probabilities, splits=2)
    assert mean == pytest.approx(1.5)
    assert std == pytest.approx(0.5)


def test_float32_softmax_rows_score_the_closed_form():
    # Row i is the float32 softmax of logit 2 on class i mod C, 0 elsewhere:
    # every row has the same entropy H and each split of C rows has a
    # uniform marginal, so KL = ln C - H and IS = C exp(-H).
    num_classes, splits = 6, 5
    logits = np.zeros((splits * num_classes, num_classes), np.float32)
    logits[np.arange(len(logits)), np.arange(len(logits)) % num_classes] = 2.0
    probabilities = (np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)).astype(np.float32)
    row = np.array([np.e**2] + [1.0] * (num_classes - 1)) / (np.e**2 + num_classes - 1)
    expected = num_classes * np.exp(np.sum(row * np.log(row)))  # 6 exp(-1.3241) = 1.5964

    mean, std = inception_score(probabilities, splits=splits)

    assert expected == pytest.approx(1.5964, abs=1e-4)
    assert mean == pytest.approx(expected, rel=1e-5)
    assert std == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(
    "probabilities, splits, match",
    [
        (np.full(10, 0.1), 1, r"\[N, C\]"),
        (np.zeros((0, 3)), 1, r"\[N, C\]"),
        (np.array([[2.0, -1.0]]), 1, "non-negative"),
        (np.array([[np.nan, 1.0]]), 1, "finite"),
        (np.array([[0.5, 0.5], [1.0, 2.0]]), 1, "Row 1 .* logits"),
        (np.full((3, 2), 0.5), 4, "at least splits=4"),
        (np.full((3, 2), 0.5), 0, "positive integer"),
        (np.full((3, 2), 0.5), 1.5, "positive integer"),
    ],
)
def test_invalid_input_raises(probabilities, splits, match):
    with pytest.raises(ValueError, match=match):
        inception_score(probabilities, splits=splits)
