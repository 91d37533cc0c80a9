"""benchmarks.word_vectors_probe: what the vectors say about held-out synonyms, on hand-made vectors."""

import numpy as np

from benchmarks import word_vectors_probe

# Two attribute values; "a"/"b" point one way, "c"/"d" the other; "e" is near
# value 0's side, "f" near value 1's, "g" is not in the vectors.
WORDS = ["a", "b", "c", "d", "e", "f"]
VECTORS = np.array(
    [[1.0, 0.1], [0.9, -0.1], [-1.0, 0.2], [-0.8, -0.2], [0.7, 0.6], [-0.6, 0.5]], np.float32
)
INDEX = {word: i for i, word in enumerate(WORDS)}


def test_held_out_words_are_read_by_their_side():
    result = word_vectors_probe.probe((("a", "b"), ("c", "d")), ("e", "f"), INDEX, VECTORS)

    assert result["words"] == 2
    assert result["predictions"] == {"e": (0, 0), "f": (1, 1)}
    assert result["nearest"] == 1.0 and result["linear"] == 1.0


def test_a_held_out_word_on_the_wrong_side_counts_as_a_miss():
    # "f" stands for value 0 here, but its vector is on value 1's side.
    result = word_vectors_probe.probe((("a", "b"), ("c", "d")), ("f", None), INDEX, VECTORS)

    assert result["words"] == 1
    assert result["nearest"] == 0.0 and result["linear"] == 0.0


def test_words_missing_from_the_vectors_are_left_out():
    result = word_vectors_probe.probe((("a", "g"), ("c",)), ("g", "f"), INDEX, VECTORS)

    assert result["words"] == 1 and result["predictions"] == {"f": (1, 1)}


def test_a_multi_word_synonym_is_the_mean_of_its_words():
    vector = word_vectors_probe.phrase_vector("a c-e", INDEX, VECTORS)
    mean = (VECTORS[0] + VECTORS[2] + VECTORS[4]) / 3
    np.testing.assert_allclose(vector, mean / np.linalg.norm(mean), rtol=1e-6)


def test_the_embedded_data_probe_covers_every_held_out_word():
    results = word_vectors_probe.run("glove-6b-50d")

    assert results["colour"]["words"] == 13 and results["class"]["words"] == 7
    for result in results.values():
        assert 0.0 <= result["nearest"] <= 1.0 and 0.0 <= result["linear"] <= 1.0
    assert "crimson" in word_vectors_probe.report(results)
