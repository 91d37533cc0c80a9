"""Losses of `fashion_t2i.losses` against numpy references written out step by step.

Every reference below is a plain loop over the indices of the equation it
checks (no vectorised trick shared with the library), on tiny fixed tensors:
B = 2-3 examples, T = 3 words, N = 2 regions, D = 2.
"""

import numpy as np
import pytest
import tensorflow as tf

from fashion_t2i import losses

EPS = 1e-8  # the library's cosine epsilon

# Two captions of T = 3 words (D = 2); caption 1 has one padding word.
WORDS = np.array(
    [
        [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]],
        [[0.5, -1.0], [2.0, 0.5], [0.0, 0.0]],
    ],
    np.float32,
)
WORD_MASK = np.array([[True, True, True], [True, True, False]])
# Three images of N = 2 regions (D = 2): more images than captions, so a
# transposed [image, text] result cannot pass for [text, image].
REGIONS = np.array(
    [
        [[1.0, 2.0], [-1.0, 0.5]],
        [[0.3, -0.2], [1.5, 1.0]],
        [[-0.5, -1.0], [0.2, 0.8]],
    ],
    np.float32,
)


def np_softmax(values):
    values = np.asarray(values, np.float64)
    e = np.exp(values - values.max())
    return e / e.sum()


def np_cosine(a, b):
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + EPS))


def np_bce(logits, label):
    """Mean of -label log sigmoid(x) - (1 - label) log(1 - sigmoid(x))."""
    x = np.asarray(logits, np.float64)
    p = 1.0 / (1.0 + np.exp(-x))
    return float(np.mean(-(label * np.log(p) + (1 - label) * np.log(1 - p))))


def np_attention(query, context, query_mask, context_mask, gamma1):
    """AttnGAN func_attention for one (query set, context set) pair.

    query [Q, D], context [C, D]. Returns (attended [Q, D], alpha [Q, C]).
    """
    num_query, num_context = len(query), len(context)
    scores = np.zeros((num_query, num_context))
    for q in range(num_query):
        for c in range(num_context):
            scores[q, c] = np.dot(query[q], context[c])
    # Softmax over the query positions, for each context position.
    over_query = np.zeros_like(scores)
    valid_q = [q for q in range(num_query) if query_mask[q]]
    for c in range(num_context):
        if valid_q:
            over_query[valid_q, c] = np_softmax(scores[valid_q, c])
    # gamma1-scaled softmax over the context positions, for each query position.
    alpha = np.zeros_like(scores)
    valid_c = [c for c in range(num_context) if context_mask[c]]
    for q in range(num_query):
        if valid_c:
            alpha[q, valid_c] = np_softmax(gamma1 * over_query[q, valid_c])
    attended = np.zeros((num_query, query.shape[1]))
    for q in range(num_query):
        for c in range(num_context):
            attended[q] += alpha[q, c] * context[c]
    return attended, alpha


def np_aggregate(relevance, mask, gamma2):
    valid = [r for r, m in zip(relevance, mask) if m]
    if not valid:
        return 0.0
    return float(np.log(np.sum(np.exp(gamma2 * np.array(valid)))))


def np_matching_losses(scores, gamma3, content_ids=None, valid=None):
    """L1 (softmax over captions in image i's column), L2 (over images in caption i's row)."""
    batch = len(scores)
    valid = [True] * batch if valid is None else list(valid)

    def is_negative(i, j):
        if content_ids is not None and content_ids[i] == content_ids[j]:
            return False
        return valid[i] and valid[j]

    loss_1, loss_2, count = 0.0, 0.0, 0
    for i in range(batch):
        if not valid[i]:
            continue
        column = [gamma3 * scores[i, i]] + [
            gamma3 * scores[j, i] for j in range(batch) if j != i and is_negative(j, i)
        ]
        row = [gamma3 * scores[i, i]] + [
            gamma3 * scores[i, j] for j in range(batch) if j != i and is_negative(i, j)
        ]
        loss_1 += -np.log(np_softmax(column)[0])
        loss_2 += -np.log(np_softmax(row)[0])
        count += 1
    return loss_1 / count, loss_2 / count


# --- masked_softmax -------------------------------------------------------------


def test_masked_softmax_matches_hand_computation_and_all_masked_row_is_zero():
    logits = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]], np.float32)
    mask = np.array([[True, True, False], [False, False, False]])
    out = losses.masked_softmax(tf.constant(logits), tf.constant(mask), axis=-1).numpy()
    e1, e2 = np.exp(1.0), np.exp(2.0)
    expected = np.array([[e1 / (e1 + e2), e2 / (e1 + e2), 0.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-7)
    assert np.all(np.isfinite(out))


def test_masked_softmax_over_axis_0():
    logits = np.array([[1.0, 0.0], [3.0, 0.0], [2.0, 5.0]], np.float32)
    mask = np.array([[True, False], [False, False], [True, True]])
    out = losses.masked_softmax(logits, mask, axis=0).numpy()
    first = np_softmax([1.0, 2.0])
    second = np_softmax([5.0])
    expected = np.array([[first[0], 0.0], [0.0, 0.0], [first[1], second[0]]])
    np.testing.assert_allclose(out, expected, rtol=1e-6)


# --- cross_attention ------------------------------------------------------------


def test_cross_attention_matches_func_attention():
    gamma1 = 4.0
    # Images as context, with the second region of image 2 masked to check
    # the context mask.
    context_mask = np.array([[True, True], [True, True], [True, False]])
    attended, alpha = losses.cross_attention(
        tf.constant(WORDS), tf.constant(REGIONS), WORD_MASK, context_mask, gamma1
    )
    assert attended.shape == (2, 3, 3, 2)
    assert alpha.shape == (2, 3, 3, 2)
    for a in range(2):
        for b in range(3):
            expected_attended, expected_alpha = np_attention(
                WORDS[a], REGIONS[b], WORD_MASK[a], context_mask[b], gamma1
            )
            np.testing.assert_allclose(alpha[a, b], expected_alpha, rtol=1e-5, atol=1e-7)
            np.testing.assert_allclose(attended[a, b], expected_attended, rtol=1e-5, atol=1e-6)
    # The masked region gets no weight; every query position's weights sum to 1.
    np.testing.assert_array_equal(alpha.numpy()[:, 2, :, 1], 0.0)
    np.testing.assert_allclose(alpha.numpy().sum(-1), 1.0, rtol=1e-6)


def test_cross_attention_first_softmax_is_over_query_positions():
    # Q = 2 words, C = 2 regions, gamma1 = 1, written out completely. A first
    # softmax over the regions (the wrong axis) would give other weights.
    query = np.array([[[1.0, 0.0], [3.0, 0.0]]], np.float32)  # Q = 2
    context = np.array([[[1.0, 0.0], [0.0, 1.0]]], np.float32)  # C = 2
    _, alpha = losses.cross_attention(
        query, context, np.array([[True, True]]), np.array([[True, True]]), 1.0
    )
    # Scores s = [[1, 0], [3, 0]]; softmax over q per column: column 0 ->
    # softmax([1, 3]), column 1 -> [0.5, 0.5].
    col0 = np_softmax([1.0, 3.0])
    expected = np.stack(
        [np_softmax([col0[0], 0.5]), np_softmax([col0[1], 0.5])]
    )
    np.testing.assert_allclose(alpha[0, 0], expected, rtol=1e-6)


def test_cosine_attention_by_hand():
    # SCAN's single softmax over regions of gamma1 * cos(word, region),
    # written out: word (3, 4) has cosines 0.6 and 0.8 with regions (1, 0)
    # and (0, 2); gamma1 = 2. The first region of image 2 is masked.
    query = np.array([[[3.0, 4.0], [0.0, 0.0]]], np.float32)  # word 2 is padding
    context = np.array([[[1.0, 0.0], [0.0, 2.0]], [[5.0, 0.0], [0.0, -1.0]]], np.float32)
    context_mask = np.array([[True, True], [False, True]])
    attended, alpha = losses.cross_attention(
        query, context, np.array([[True, False]]), context_mask, 2.0, attention="cosine"
    )
    weights = np.exp([1.2, 1.6]) / np.exp([1.2, 1.6]).sum()
    np.testing.assert_allclose(alpha[0, 0, 0], weights, rtol=1e-6)
    np.testing.assert_allclose(attended[0, 0, 0], [weights[0], 2.0 * weights[1]], rtol=1e-6)
    # Only one region of image 2 is left: all the weight goes there.
    np.testing.assert_allclose(alpha[0, 1, 0], [0.0, 1.0], atol=1e-7)
    # The words of a caption do not compete (no softmax over them): scaling
    # another word changes nothing, unlike AttnGAN's first softmax.
    scaled = query.copy()
    scaled[0, 1] = [10.0, 0.0]
    _, alpha_scaled = losses.cross_attention(
        scaled, context, np.array([[True, True]]), context_mask, 2.0, attention="cosine"
    )
    np.testing.assert_allclose(alpha_scaled[0, :, 0], alpha[0, :, 0], rtol=1e-6)


def test_cosine_attention_ignores_feature_norms():
    # Cosine attention depends on directions only: rescaling words or regions
    # leaves the weights as they were (AttnGAN's dot products do not).
    words, regions = tf.constant(WORDS), tf.constant(REGIONS)
    mask = np.ones(REGIONS.shape[:2], bool)
    _, alpha = losses.cross_attention(words, regions, WORD_MASK, mask, 4.0, attention="cosine")
    _, rescaled = losses.cross_attention(
        3.0 * words, 0.5 * regions, WORD_MASK, mask, 4.0, attention="cosine"
    )
    np.testing.assert_allclose(rescaled, alpha, rtol=1e-5, atol=1e-7)
    _, attngan = losses.cross_attention(words, regions, WORD_MASK, mask, 4.0)
    _, attngan_rescaled = losses.cross_attention(3.0 * words, 0.5 * regions, WORD_MASK, mask, 4.0)
    assert not np.allclose(attngan_rescaled, attngan, atol=1e-3)


def test_cross_attention_unknown_mode_raises():
    with pytest.raises(ValueError, match="attention"):
        losses.cross_attention(
            tf.constant(WORDS), tf.constant(REGIONS), WORD_MASK,
            np.ones(REGIONS.shape[:2], bool), 4.0, attention="scan",
        )


# --- aggregate_relevance --------------------------------------------------------


def test_aggregate_relevance_is_logsumexp_over_valid_positions():
    relevance = np.array([[0.2, -0.5, 0.9], [0.1, 0.3, 0.7], [0.4, 0.4, 0.4]], np.float32)
    mask = np.array([[True, True, False], [False, False, False], [True, True, True]])
    gamma2 = 5.0
    out = losses.aggregate_relevance(tf.constant(relevance), tf.constant(mask), gamma2).numpy()
    expected = [
        np.log(np.exp(5.0 * 0.2) + np.exp(5.0 * -0.5)),
        0.0,  # no valid position
        np.log(3 * np.exp(5.0 * 0.4)),
    ]
    np.testing.assert_allclose(out, expected, rtol=1e-6)


# --- word_region_scores / region_word_scores ------------------------------------


def test_word_region_scores_t2i_matches_numpy():
    gamma1, gamma2 = 4.0, 5.0
    scores, alpha = losses.word_region_scores(
        tf.constant(WORDS), tf.constant(WORD_MASK), tf.constant(REGIONS), gamma1, gamma2
    )
    assert scores.shape == (2, 3)  # [text, image]
    assert alpha.shape == (2, 3, 3, 2)
    expected = np.zeros((2, 3))
    for i in range(2):  # caption
        for j in range(3):  # image
            attended, expected_alpha = np_attention(
                WORDS[i], REGIONS[j], WORD_MASK[i], [True, True], gamma1
            )
            relevance = [np_cosine(attended[t], WORDS[i, t]) for t in range(3)]
            expected[i, j] = np_aggregate(relevance, WORD_MASK[i], gamma2)
            np.testing.assert_allclose(alpha[i, j], expected_alpha, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(scores, expected, rtol=1e-5)


def test_region_word_scores_i2t_matches_numpy():
    gamma1, gamma2 = 4.0, 5.0
    scores = losses.region_word_scores(
        tf.constant(WORDS), tf.constant(WORD_MASK), tf.constant(REGIONS), gamma1, gamma2
    )
    assert scores.shape == (2, 3)  # [text, image], like word_region_scores
    expected = np.zeros((2, 3))
    for i in range(2):  # caption
        for j in range(3):  # image
            # Regions are the queries; the caption's words (padding masked) the context.
            attended, _ = np_attention(REGIONS[j], WORDS[i], [True, True], WORD_MASK[i], gamma1)
            relevance = [np_cosine(attended[n], REGIONS[j, n]) for n in range(2)]
            expected[i, j] = np_aggregate(relevance, [True, True], gamma2)
    np.testing.assert_allclose(scores, expected, rtol=1e-5)


def test_region_word_scores_ignore_padding_word_values():
    # A padding word must not be attended to, whatever its vector holds.
    noisy = WORDS.copy()
    noisy[1, 2] = [5.0, -3.0]
    clean = losses.region_word_scores(WORDS, WORD_MASK, REGIONS, 4.0, 5.0)
    dirty = losses.region_word_scores(noisy, WORD_MASK, REGIONS, 4.0, 5.0)
    np.testing.assert_allclose(clean, dirty, rtol=1e-6)
    clean_t2i, _ = losses.word_region_scores(WORDS, WORD_MASK, REGIONS, 4.0, 5.0)
    dirty_t2i, _ = losses.word_region_scores(noisy, WORD_MASK, REGIONS, 4.0, 5.0)
    np.testing.assert_allclose(clean_t2i, dirty_t2i, rtol=1e-6)


# --- matching_losses -------------------------------------------------------------

# Asymmetric scores: L1 (columns) and L2 (rows) differ.
SCORES = np.array([[0.9, 0.1, 0.4], [0.6, 0.2, -0.3], [0.0, 0.5, 0.7]], np.float32)


def test_matching_losses_directions_by_hand():
    # 2 x 2, gamma3 = 1, written out completely.
    scores = np.array([[1.0, 0.0], [0.5, 2.0]], np.float32)
    loss_1, loss_2 = losses.matching_losses(tf.constant(scores), 1.0)
    # L1: image i fixed (column), softmax over captions.
    col0 = -np.log(np.exp(1.0) / (np.exp(1.0) + np.exp(0.5)))
    col1 = -np.log(np.exp(2.0) / (np.exp(0.0) + np.exp(2.0)))
    # L2: caption i fixed (row), softmax over images.
    row0 = -np.log(np.exp(1.0) / (np.exp(1.0) + np.exp(0.0)))
    row1 = -np.log(np.exp(2.0) / (np.exp(0.5) + np.exp(2.0)))
    np.testing.assert_allclose(loss_1, (col0 + col1) / 2, rtol=1e-6)
    np.testing.assert_allclose(loss_2, (row0 + row1) / 2, rtol=1e-6)


@pytest.mark.parametrize("gamma3", [1.0, 10.0])
def test_matching_losses_gamma3_scaling(gamma3):
    loss_1, loss_2 = losses.matching_losses(tf.constant(SCORES), gamma3)
    expected_1, expected_2 = np_matching_losses(SCORES, gamma3)
    np.testing.assert_allclose(loss_1, expected_1, rtol=1e-5)
    np.testing.assert_allclose(loss_2, expected_2, rtol=1e-5)
    assert not np.isclose(expected_1, expected_2)


def test_matching_losses_mask_pairs_with_equal_content_ids():
    content_ids = np.array([7, 7, 3])
    loss_1, loss_2 = losses.matching_losses(tf.constant(SCORES), 10.0, tf.constant(content_ids))
    expected_1, expected_2 = np_matching_losses(SCORES, 10.0, content_ids=content_ids)
    np.testing.assert_allclose(loss_1, expected_1, rtol=1e-5)
    np.testing.assert_allclose(loss_2, expected_2, rtol=1e-5)
    unmasked = np_matching_losses(SCORES, 10.0)
    assert not np.isclose(expected_1, unmasked[0])


def test_matching_losses_valid_weights_exclude_examples():
    valid = np.array([True, False, True])
    loss_1, loss_2 = losses.matching_losses(tf.constant(SCORES), 10.0, valid=tf.constant(valid))
    expected_1, expected_2 = np_matching_losses(SCORES, 10.0, valid=valid)
    np.testing.assert_allclose(loss_1, expected_1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loss_2, expected_2, rtol=1e-5, atol=1e-6)
    # Same as the 2 x 2 problem of the valid examples alone.
    sub = SCORES[np.ix_([0, 2], [0, 2])]
    np.testing.assert_allclose(
        [loss_1, loss_2], losses.matching_losses(tf.constant(sub), 10.0), rtol=1e-5
    )


def test_matching_losses_content_ids_and_valid_together():
    scores = np.array(
        [[0.9, 0.1, 0.4, 0.2], [0.6, 0.2, -0.3, 0.8], [0.0, 0.5, 0.7, 0.1], [0.3, 0.3, 0.3, 0.3]],
        np.float32,
    )
    content_ids = np.array([1, 2, 1, 5])
    valid = np.array([True, True, True, False])
    out = losses.matching_losses(scores, 10.0, content_ids, valid)
    np.testing.assert_allclose(
        out, np_matching_losses(scores, 10.0, content_ids=content_ids, valid=valid), rtol=1e-5
    )


def test_matching_losses_no_valid_example_is_zero_not_nan():
    out = losses.matching_losses(tf.constant(SCORES), 10.0, valid=tf.constant([False] * 3))
    np.testing.assert_array_equal(out, [0.0, 0.0])


# --- similarity_loss --------------------------------------------------------------


def _similarity_inputs():
    # Batch of 2 (one caption and one image each); two regions per image.
    regions = REGIONS[:2]
    sentence = np.array([[1.0, 0.5], [-0.3, 0.8]], np.float32)
    global_feature = np.array([[0.2, 1.0], [1.0, -0.4]], np.float32)
    return WORDS, sentence, WORD_MASK, regions, global_feature


@pytest.mark.parametrize(
    "mode, local_keys",
    [
        ("t2i", ["t2i_loss_1", "t2i_loss_2"]),
        ("i2t", ["i2t_loss_1", "i2t_loss_2"]),
        ("both", ["t2i_loss_1", "t2i_loss_2", "i2t_loss_1", "i2t_loss_2"]),
    ],
)
def test_similarity_loss_keys_and_total(mode, local_keys):
    words, sentence, mask, regions, global_feature = _similarity_inputs()
    terms = losses.similarity_loss(words, sentence, mask, regions, global_feature, mode=mode)
    expected_keys = {"similarity_loss", "global_loss_1", "global_loss_2", *local_keys}
    assert set(terms) == expected_keys
    parts = [float(v) for k, v in terms.items() if k != "similarity_loss"]
    np.testing.assert_allclose(terms["similarity_loss"], sum(parts), rtol=1e-6)
    # The terms are the matching losses of the right score matrices.
    global_expected = np.zeros((2, 2))
    for i in range(2):
        for j in range(2):
            global_expected[i, j] = np_cosine(sentence[i], global_feature[j])
    np.testing.assert_allclose(
        [terms["global_loss_1"], terms["global_loss_2"]],
        np_matching_losses(global_expected, 10.0),
        rtol=1e-5,
    )
    if "t2i_loss_1" in terms:
        scores, _ = losses.word_region_scores(words, mask, regions, 4.0, 5.0)
        np.testing.assert_allclose(
            [terms["t2i_loss_1"], terms["t2i_loss_2"]],
            np_matching_losses(scores.numpy(), 10.0),
            rtol=1e-5,
            atol=1e-6,
        )
    if "i2t_loss_1" in terms:
        scores = losses.region_word_scores(words, mask, regions, 4.0, 5.0)
        np.testing.assert_allclose(
            [terms["i2t_loss_1"], terms["i2t_loss_2"]],
            np_matching_losses(scores.numpy(), 10.0),
            rtol=1e-5,
            atol=1e-6,
        )


def test_similarity_loss_invalid_mode_raises():
    with pytest.raises(ValueError, match="mode"):
        losses.similarity_loss(*_similarity_inputs(), mode="t2t")


@pytest.mark.parametrize("mode", ["t2i", "i2t", "both"])
def test_similarity_loss_gradients_finite_with_all_padding_caption(mode):
    rng = np.random.default_rng(0)
    mask = tf.constant([[True, True, False], [False, False, False], [True, False, False]])
    # Like the text encoder: zero word features at padding, zero sentence
    # feature for the caption without words.
    valid_words = tf.cast(mask[..., None], tf.float32)
    words = tf.constant(rng.normal(size=(3, 3, 2)), tf.float32) * valid_words
    has_words = tf.constant([[1.0], [0.0], [1.0]])
    sentence = tf.constant(rng.normal(size=(3, 2)), tf.float32) * has_words
    regions = tf.constant(rng.normal(size=(3, 2, 2)), tf.float32)
    global_feature = tf.constant(rng.normal(size=(3, 2)), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch([words, sentence, regions, global_feature])
        terms = losses.similarity_loss(
            words, sentence, mask, regions, global_feature, mode=mode
        )
    gradients = tape.gradient(terms["similarity_loss"], [words, sentence, regions, global_feature])
    assert np.isfinite(terms["similarity_loss"].numpy())
    for gradient in gradients:
        assert gradient is not None
        assert np.all(np.isfinite(gradient.numpy()))
    # The loss does depend on the features (the gradient is not just zero).
    assert np.any(gradients[2].numpy() != 0)


# --- adversarial and KL losses ------------------------------------------------------

REAL = np.array([1.5, -0.5], np.float32)
REAL_COND = np.array([0.3, 2.0], np.float32)
FAKE = np.array([-1.0, 0.2], np.float32)
FAKE_COND = np.array([0.7, -2.5], np.float32)
WRONG_COND = np.array([1.2, 0.4], np.float32)


def test_generator_adversarial_loss_by_hand():
    out = losses.generator_adversarial_loss(tf.constant(FAKE), tf.constant(FAKE_COND))
    # -1/2 E log sigmoid(fake) - 1/2 E log sigmoid(fake_cond).
    expected = 0.5 * np.mean(-np.log(1 / (1 + np.exp(-FAKE.astype(np.float64))))) + 0.5 * np.mean(
        -np.log(1 / (1 + np.exp(-FAKE_COND.astype(np.float64))))
    )
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_discriminator_loss_without_wrong_caption_has_half_weights():
    out = losses.discriminator_loss(REAL, REAL_COND, FAKE, FAKE_COND)
    expected = (
        0.5 * np_bce(REAL, 1) + 0.5 * np_bce(FAKE, 0)
        + 0.5 * np_bce(REAL_COND, 1) + 0.5 * np_bce(FAKE_COND, 0)
    )
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_discriminator_loss_with_wrong_caption_has_quarter_weights():
    out = losses.discriminator_loss(REAL, REAL_COND, FAKE, FAKE_COND, WRONG_COND)
    expected = (
        0.5 * np_bce(REAL, 1) + 0.5 * np_bce(FAKE, 0)
        + 0.5 * np_bce(REAL_COND, 1)
        + 0.25 * np_bce(FAKE_COND, 0) + 0.25 * np_bce(WRONG_COND, 0)
    )
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    without = losses.discriminator_loss(REAL, REAL_COND, FAKE, FAKE_COND)
    # The difference isolates the two 1/4 weights.
    np.testing.assert_allclose(
        out - without, 0.25 * np_bce(WRONG_COND, 0) - 0.25 * np_bce(FAKE_COND, 0), rtol=1e-5
    )


def test_discriminator_loss_averages_several_wrong_captions():
    second = np.array([-0.3, 2.2], np.float32)
    out = losses.discriminator_loss(
        REAL, REAL_COND, FAKE, FAKE_COND, np.stack([WRONG_COND, second])
    )
    # The 1/4 weight is shared by the mean over both wrong captions of every image.
    expected = (
        0.5 * np_bce(REAL, 1) + 0.5 * np_bce(FAKE, 0)
        + 0.5 * np_bce(REAL_COND, 1) + 0.25 * np_bce(FAKE_COND, 0)
        + 0.25 * 0.5 * (np_bce(WRONG_COND, 0) + np_bce(second, 0))
    )
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_kl_loss_zero_for_standard_normal():
    zeros = tf.zeros([3, 4])
    assert float(losses.kl_loss(zeros, zeros)) == 0.0


def test_kl_loss_by_hand():
    mu = tf.constant([[1.0, 0.0]])
    log_variance = tf.constant([[0.0, np.log(2.0)]], tf.float32)
    # Elements 1 + logvar - mu^2 - exp(logvar): -1 and log 2 - 1.
    expected = -0.5 * np.mean([-1.0, np.log(2.0) - 1.0])
    np.testing.assert_allclose(losses.kl_loss(mu, log_variance), expected, rtol=1e-6)
    assert expected == pytest.approx((2 - np.log(2.0)) / 4)


def test_mode_seeking_loss_by_hand():
    # Images differ by 0.5 in half their elements (mean |dx| = 0.25); noises
    # by 2 everywhere (mean |dn| = 2): d = 0.125, L_ms = 1 / (0.125 + eps).
    a = tf.zeros([2, 2, 2, 1])
    b = tf.constant(np.array([0.5, 0.0] * 4, np.float32).reshape(2, 2, 2, 1))
    noise_a, noise_b = tf.zeros([2, 3]), tf.fill([2, 3], 2.0)
    expected = 1.0 / (0.125 + 1e-5)
    np.testing.assert_allclose(losses.mode_seeking_loss(a, b, noise_a, noise_b), expected,
                               rtol=1e-6)


def test_mode_seeking_loss_falls_as_the_images_differ_more():
    noise_a, noise_b = tf.zeros([1, 2]), tf.ones([1, 2])
    a = tf.zeros([1, 4, 4, 3])
    same = float(losses.mode_seeking_loss(a, a, noise_a, noise_b))
    apart = float(losses.mode_seeking_loss(a, a + 1.0, noise_a, noise_b))
    assert same == pytest.approx(1e5) and apart == pytest.approx(1.0, rel=1e-4)
