"""`closest_mismatch`: the mismatched caption closest to each example's own."""

import numpy as np
import tensorflow as tf

from fashion_t2i.models.negatives import closest_mismatch

# Unit-length directions at 0, 10, 80 and 90 degrees.
ANGLES = np.deg2rad([0.0, 10.0, 80.0, 90.0])
SENTENCES = np.stack([np.cos(ANGLES), np.sin(ANGLES)], axis=1).astype(np.float32)
FALLBACK = np.full((4, 2), 7.0, np.float32)


def test_picks_the_closest_example_with_another_id():
    # All ids differ: 0 -> 1 (10 deg), 1 -> 0, 2 -> 3, 3 -> 2.
    out = closest_mismatch(tf.constant(SENTENCES), tf.constant([0, 1, 2, 3]), FALLBACK)
    np.testing.assert_allclose(out, SENTENCES[[1, 0, 3, 2]])


def test_skips_examples_that_show_the_same_thing():
    # 0 and 1 share an id: their closest mismatch is now 2 (80 and 70 deg away).
    out = closest_mismatch(tf.constant(SENTENCES), tf.constant([5, 5, 6, 7]), FALLBACK)
    np.testing.assert_allclose(out, SENTENCES[[2, 2, 3, 2]])


def test_ranks_by_cosine_not_by_length():
    # Example 3 scaled up stays the second-closest direction to example 2.
    scaled = SENTENCES.copy()
    scaled[1] *= 0.01
    scaled[3] *= 100.0
    out = closest_mismatch(tf.constant(scaled), tf.constant([0, 1, 2, 3]), FALLBACK)
    np.testing.assert_allclose(out, scaled[[1, 0, 3, 2]])


def test_uses_the_fallback_when_the_whole_batch_shows_one_thing():
    out = closest_mismatch(tf.constant(SENTENCES), tf.constant([3, 3, 3, 3]), FALLBACK)
    np.testing.assert_allclose(out, FALLBACK)
    mixed = closest_mismatch(tf.constant(SENTENCES), tf.constant([3, 3, 3, 4]), FALLBACK)
    np.testing.assert_allclose(mixed, SENTENCES[[3, 3, 3, 2]])


def test_without_ids_only_the_example_itself_is_excluded():
    out = closest_mismatch(tf.constant(SENTENCES), None, FALLBACK)
    np.testing.assert_allclose(out, SENTENCES[[1, 0, 3, 2]])
