import numpy as np
import pytest

from fashion_t2i.metrics.r_precision import (
    available_candidates,
    candidate_scores,
    fitting_candidates,
    metric_name,
    r_precision,
    r_precision_from_features,
    r_precision_hits,
    r_precision_hits_from_features,
    sample_candidates,
)


def test_perfect_scorer_scores_one():
    rng = np.random.default_rng(0)
    scores = rng.uniform(0, 0.9, size=(50, 100))
    scores[:, 0] = 1.0
    assert r_precision(scores) == 1.0


def test_true_candidate_beaten_is_a_miss():
    scores = np.array([[0.9, 0.1, 0.2], [0.5, 0.6, 0.1]])
    assert r_precision(scores) == 0.5


def test_random_scorer_is_at_chance_level():
    scores = np.random.default_rng(1).normal(size=(20_000, 100))
    # Standard error sqrt(0.01 * 0.99 / 20000) = 0.0007.
    assert r_precision(scores) == pytest.approx(0.01, abs=0.003)


def test_ties_count_as_random_tie_breaking():
    # A constant scorer must not get a perfect score.
    assert r_precision(np.zeros((10, 100))) == pytest.approx(0.01)
    assert r_precision(np.array([[1.0, 1.0, 0.0]])) == pytest.approx(0.5)


def test_hits_are_per_query_and_their_mean_is_r_precision():
    # A hit, a miss, a tie of two and a tie of three for the top.
    scores = np.array([[0.9, 0.1, 0.2], [0.5, 0.6, 0.1], [0.4, 0.4, 0.1], [0.3, 0.3, 0.3]])
    np.testing.assert_allclose(r_precision_hits(scores), [1.0, 0.0, 0.5, 1.0 / 3.0])
    assert r_precision(scores) == pytest.approx((1.0 + 0.0 + 0.5 + 1.0 / 3.0) / 4.0)


def test_hits_from_features_are_those_behind_r_precision_from_features():
    rng = np.random.default_rng(3)
    ids = np.arange(40)
    captions = rng.normal(size=(40, 8))
    images = captions + 0.8 * rng.normal(size=(40, 8))
    hits = r_precision_hits_from_features(images, captions, ids, num_candidates=10, seed=4)
    assert hits.shape == (40,) and 0.0 < hits.mean() < 1.0
    assert r_precision_from_features(images, captions, ids, 10, seed=4) == pytest.approx(hits.mean())


@pytest.mark.parametrize("shape", [(100,), (5, 1), (0, 100)])
def test_bad_scores_shape_raises(shape):
    with pytest.raises(ValueError, match=r"\[N, K\]"):
        r_precision(np.zeros(shape))


def test_sample_candidates_never_picks_same_content():
    rng = np.random.default_rng(2)
    # Several captions per product, as in Fashion-Gen.
    product_ids = rng.integers(0, 40, size=300)
    candidate_sets = sample_candidates(300, 100, list(product_ids), rng)
    assert candidate_sets.shape == (300, 100)
    np.testing.assert_array_equal(candidate_sets[:, 0], np.arange(300))
    wrong = candidate_sets[:, 1:]
    assert np.all(product_ids[wrong] != product_ids[:, None])
    # Without replacement: the 99 wrong candidates of a row are distinct.
    assert all(len(set(row)) == 99 for row in wrong)


def test_sample_candidates_accepts_attribute_tuples_and_covers_all_others():
    # (class, colour) keys as rows of an array; example 0 is alone in its group.
    keys = np.array([[0, 0]] + [[1, 2]] * 3 + [[1, 3]] * 3)
    candidate_sets = sample_candidates(7, 5, keys, rng=0)
    assert set(candidate_sets[0, 1:]) <= {1, 2, 3, 4, 5, 6}
    for i in range(1, 4):
        assert set(candidate_sets[i, 1:]) == {0, 4, 5, 6}
    for i in range(4, 7):
        assert set(candidate_sets[i, 1:]) == {0, 1, 2, 3}


def test_sample_candidates_is_uniform_over_other_content():
    keys = [0, 0, 1, 2, 3, 4]
    counts = np.zeros(6)
    rng = np.random.default_rng(3)
    for _ in range(2000):
        counts[sample_candidates(6, 2, keys, rng)[0, 1]] += 1
    assert counts[:2].sum() == 0
    np.testing.assert_allclose(counts[2:] / 2000, 0.25, atol=0.04)


def test_sample_candidates_is_reproducible_with_a_seed():
    keys = list(range(50))
    np.testing.assert_array_equal(
        sample_candidates(50, 10, keys, rng=7), sample_candidates(50, 10, keys, rng=7)
    )


def test_too_few_distinct_candidates_raises():
    keys = ["red dress"] * 8 + ["blue boot"] * 3
    with pytest.raises(ValueError, match="only 3 examples with different content"):
        sample_candidates(11, 5, keys, rng=0)


@pytest.mark.parametrize(
    "num_examples, num_candidates, match",
    [
        (4, 2, "content_ids has 3 entries for num_examples=4"),
        (3, 1, "num_candidates must be at least 2, got 1"),
    ],
)
def test_sample_candidates_bad_arguments_raise(num_examples, num_candidates, match):
    with pytest.raises(ValueError, match=match):
        sample_candidates(num_examples, num_candidates, [0, 1, 2], rng=0)


def test_candidate_scores_are_cosine_similarities():
    queries = np.array([[1.0, 0.0], [0.0, 2.0]])
    captions = np.array([[3.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    candidate_sets = np.array([[0, 1, 2], [1, 0, 2]])
    scores = candidate_scores(queries, captions, candidate_sets, chunk_size=1)
    np.testing.assert_allclose(scores, [[1, 0, 2**-0.5], [1, 0, 2**-0.5]])
    assert r_precision(scores) == 1.0


def test_matching_features_give_high_r_precision_end_to_end():
    rng = np.random.default_rng(4)
    captions = rng.normal(size=(300, 16))
    images = captions + 0.1 * rng.normal(size=(300, 16))
    candidate_sets = sample_candidates(300, 100, list(range(300)), rng)
    assert r_precision(candidate_scores(images, captions, candidate_sets)) > 0.95
    shuffled = candidate_scores(images[rng.permutation(300)], captions, candidate_sets)
    assert r_precision(shuffled) < 0.1


def test_candidate_scores_index_out_of_range_raises():
    with pytest.raises(ValueError, match="out of that range"):
        candidate_scores(np.ones((1, 2)), np.ones((2, 2)), np.array([[0, 2]]))


# Fitting the candidates to the data: K = min(100, available).


def test_available_candidates_is_one_plus_the_fewest_other_content_examples():
    # The validation file: 8 products, 3 poses each.
    assert available_candidates(np.repeat(np.arange(1000, 1008), 3)) == 22
    # The largest group decides: 5 examples of "a" leave them 3 others.
    assert available_candidates(["a"] * 5 + ["b"] * 2 + ["c"]) == 4
    assert available_candidates(np.array([[1, 2]] * 2 + [[1, 3]])) == 2
    assert available_candidates([7, 7, 7]) == 1
    assert available_candidates([]) == 0


@pytest.mark.parametrize(
    "content_ids, wanted, expected",
    [
        (list(range(300)), 100, 100),
        (np.repeat(np.arange(1000, 1008), 3), 100, 22),
        (list(range(5)), 3, 3),
        ([0, 1], 100, 2),
    ],
)
def test_fitting_candidates_takes_what_the_data_can_give(content_ids, wanted, expected):
    k = fitting_candidates(content_ids, wanted)
    assert k == expected
    # Every example can draw them: sampling does not raise.
    sets = sample_candidates(len(content_ids), k, content_ids, rng=0)
    assert sets.shape == (len(content_ids), expected)


@pytest.mark.parametrize("content_ids", [[5, 5, 5, 5], []], ids=["one content", "empty"])
def test_fitting_candidates_refuses_data_without_two_contents(content_ids):
    with pytest.raises(ValueError, match=f"the {len(content_ids)} examples show"):
        fitting_candidates(content_ids)


def test_metric_name_keeps_r_precision_for_100_and_names_fewer():
    assert metric_name(100) == "r_precision"
    assert metric_name(22) == "r_precision_at_22"
    assert metric_name(2) == "r_precision_at_2"


def test_small_validation_set_scores_with_the_candidates_it_has():
    # 8 products x 3 poses: 100 candidates cannot be drawn, 22 can.
    rng = np.random.default_rng(5)
    ids = np.repeat(np.arange(8), 3)
    captions = rng.normal(size=(24, 16))
    images = captions + 0.05 * rng.normal(size=(24, 16))
    with pytest.raises(ValueError, match="has only 21 examples with different content"):
        r_precision_from_features(images, captions, ids, num_candidates=100)
    k = fitting_candidates(ids)
    assert r_precision_from_features(images, captions, ids, num_candidates=k) == 1.0
