"""evaluation.caption_sets / r_precision_by_set: held-out captions scored apart, by hand."""

import numpy as np

from fashion_t2i import evaluation


def test_marked_rows_are_the_held_out_set_and_the_rest_in_vocabulary():
    sets = evaluation.caption_sets({"held_out_words": np.array([0, 1, 0, 1, 1], np.int32)})

    assert set(sets) == {"in_vocabulary", "held_out"}
    np.testing.assert_array_equal(sets["held_out"], [1, 3, 4])
    np.testing.assert_array_equal(sets["in_vocabulary"], [0, 2])


def test_no_column_or_no_marked_row_gives_no_sets():
    assert evaluation.caption_sets({"caption": np.array([b"a"])}) == {}
    assert evaluation.caption_sets({"held_out_words": np.zeros(4, np.int32)}) == {}


def test_each_set_ranks_among_its_own_captions():
    # Four in-vocabulary pairs whose images match their own caption, and two
    # held-out pairs whose images match each other's caption.
    sentences = np.eye(6, dtype=np.float32)
    images = sentences.copy()
    images[[4, 5]] = sentences[[5, 4]]
    ids = np.arange(6)
    sets = evaluation.caption_sets({"held_out_words": np.array([0, 0, 0, 0, 1, 1])})

    result = evaluation.r_precision_by_set(images, sentences, ids, sets, seed=0)

    # In-vocabulary: top-1 of its 4 captions, always the own one.
    assert result["in_vocabulary"] == {"r_precision_at_4": 1.0}
    # Held-out: 2 candidates (own and the other held-out caption), never the own.
    assert result["held_out"] == {"r_precision_at_2": 0.0}
