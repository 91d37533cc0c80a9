"""fashion_t2i.text.word_vectors: an embedding matrix from a GloVe-style text file."""

import numpy as np
import pytest

from fashion_t2i.text.vocabulary import OOV_TOKEN
from fashion_t2i.text.vocabulary import PAD_TOKEN
from fashion_t2i.text.word_vectors import load_word_vectors

TOKENS = [PAD_TOKEN, OOV_TOKEN, "red", "dress", "3", "zebra"]


def write(tmp_path, content, name="vectors.txt"):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return str(path)


def test_rows_of_words_in_the_file_are_their_vectors(tmp_path):
    # The header's count "3" is also a vocabulary word: the header is still skipped.
    path = write(
        tmp_path,
        "3 4\n"
        "dress 0.5 -1 2.25 0\n"
        "coat 9 9 9 9\n"
        "red 1 2 3 4\n",
    )

    matrix = load_word_vectors(path, TOKENS, 4)

    assert matrix.dtype == np.float32 and matrix.shape == (6, 4)
    np.testing.assert_array_equal(matrix[2], [1, 2, 3, 4])
    np.testing.assert_array_equal(matrix[3], [0.5, -1, 2.25, 0])
    np.testing.assert_array_equal(matrix[0], [0, 0, 0, 0])


def test_a_file_without_header_is_read_from_its_first_line(tmp_path):
    path = write(tmp_path, "red 1 2 3 4\n3 5 6 7 8\n")

    matrix = load_word_vectors(path, TOKENS, 4)

    np.testing.assert_array_equal(matrix[2], [1, 2, 3, 4])
    np.testing.assert_array_equal(matrix[4], [5, 6, 7, 8])


def test_missing_words_get_small_seeded_random_rows_and_padding_stays_zero(tmp_path):
    path = write(tmp_path, "red 1 2 3 4\n")

    matrix = load_word_vectors(path, TOKENS, 4, seed=7)
    again = load_word_vectors(path, TOKENS, 4, seed=7)
    other_seed = load_word_vectors(path, TOKENS, 4, seed=8)

    missing = matrix[[1, 3, 4, 5]]
    assert np.all(np.abs(missing) <= 0.05) and np.all(missing != 0)
    np.testing.assert_array_equal(matrix, again)
    assert not np.array_equal(matrix[3], other_seed[3])
    np.testing.assert_array_equal(other_seed[2], [1, 2, 3, 4])
    np.testing.assert_array_equal(matrix[0], [0, 0, 0, 0])


def test_a_vector_of_another_size_is_named_with_its_line(tmp_path):
    path = write(tmp_path, "red 1 2 3 4\ndress 1 2 3\n")

    with pytest.raises(ValueError, match=r"vectors.txt:2: vector of size 3, the file's first .* 4"):
        load_word_vectors(path, TOKENS, 4)


def test_vectors_of_another_size_than_asked_are_refused(tmp_path):
    path = write(tmp_path, "red 1 2 3 4\ndress 1 2 3 4\n")

    with pytest.raises(ValueError, match=r"vectors of size 4, embedding_dim is 3"):
        load_word_vectors(path, TOKENS, 3)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"Word vectors file not found: .*nope\.txt"):
        load_word_vectors(str(tmp_path / "nope.txt"), TOKENS, 4)


def test_invalid_utf8_is_replaced_not_fatal(tmp_path):
    # Read as UTF-8 with errors="replace": the Latin-1 "caf\xe9" becomes
    # "caf\ufffd", which matches no token; the other lines load as usual.
    path = write(tmp_path, b"caf\xe9 9 9 9 9\nred 1 2 3 4\n\xff\xfe 8 8 8 8\ndress 4 3 2 1\n")
    tokens = TOKENS + ["caf\u00e9"]

    matrix = load_word_vectors(path, tokens, 4)

    np.testing.assert_array_equal(matrix[2], [1, 2, 3, 4])
    np.testing.assert_array_equal(matrix[3], [4, 3, 2, 1])
    assert np.all(np.abs(matrix[6]) <= 0.05)
