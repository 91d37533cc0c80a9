"""evaluation.caption_sets / r_precision_by_set: held-out captions scored apart, by hand."""

import numpy as np
import pytest

from fashion_t2i import evaluate_lib
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


def test_hits_by_set_are_the_hits_behind_r_precision_by_set():
    sentences = np.eye(6, dtype=np.float32)
    images = sentences.copy()
    images[[4, 5]] = sentences[[5, 4]]
    sets = evaluation.caption_sets({"held_out_words": np.array([0, 0, 0, 1, 1, 1])})
    # Held-out row 3 matches its own caption, rows 4 and 5 each other's.
    hits = evaluation.r_precision_hits_by_set(images, sentences, np.arange(6), sets, seed=0)

    metric, held_out = hits["held_out"]
    assert metric == "r_precision_at_3"
    np.testing.assert_array_equal(held_out, [1.0, 0.0, 0.0])
    assert evaluation.r_precision_by_set(images, sentences, np.arange(6), sets)["held_out"] == {
        "r_precision_at_3": pytest.approx(1.0 / 3.0)
    }


def test_held_out_word_rows_groups_rows_by_the_whole_words_they_say():
    captions = [
        "A crimson dress.",              # 0: colour word
        "An indigo tunic. Machine wash.",  # 1: colour and class word
        "A red dress.",                  # 2: in-vocabulary
        "Crimson-red jeans",             # 3: split on the hyphen, like the tokenizer
        "A crimsons tunics",             # 4: not the words themselves
    ]
    groups = evaluation.held_out_word_rows(captions, np.array([0, 1, 3, 4]))

    # The order of the held-out lists: colours first, then classes.
    assert list(groups) == ["crimson", "indigo", "jeans", "tunic"]
    np.testing.assert_array_equal(groups["crimson"], [0, 3])
    np.testing.assert_array_equal(groups["indigo"], [1])
    np.testing.assert_array_equal(groups["jeans"], [3])
    np.testing.assert_array_equal(groups["tunic"], [1])
    # Only the rows asked about: row 2 is never grouped, nor a word of no row.
    assert evaluation.held_out_word_rows(captions, np.array([2])) == {}


def test_held_out_words_table_has_a_row_per_word_and_a_dash_where_nothing_was_measured():
    by_word = {
        "crimson": {
            "num_captions": 24,
            "generated": {"attribute_accuracy": {"colour": 0.5}, "r_precision": 0.25},
            "real": {"attribute_accuracy": {"colour": 1.0}, "r_precision": 0.75},
        },
        "tunic": {
            "num_captions": 3,
            "generated": {"attribute_accuracy": {"colour": 0.0}},
            "real": {"attribute_accuracy": {"colour": 1.0}},
        },
    }
    lines = evaluate_lib.held_out_words_table(by_word).splitlines()

    assert lines[0].split() == [
        "held-out", "word", "captions", "generated", "colour", "generated", "r_precision",
        "real", "colour", "real", "r_precision",
    ]
    assert lines[1].split() == ["crimson", "24", "0.500", "0.250", "1.000", "0.750"]
    assert lines[2].split() == ["tunic", "3", "0.000", "-", "1.000", "-"]
