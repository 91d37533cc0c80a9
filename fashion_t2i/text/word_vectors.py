"""Pretrained word vectors (GloVe / word2vec text format) for the embedding."""

import os

import numpy as np


def load_word_vectors(path, tokens, dim, seed=0):
    """Builds an embedding matrix for `tokens` from a `word v1 ... v_dim` text file.

    Words missing from the file get small random vectors; the padding row is 0.

    Args:
        path: the vectors file (UTF-8; a first `count dim` header line is skipped).
        tokens: the vocabulary, id order.
        dim: embedding size; every vector in the file must have it.

    Returns:
        float32 [len(tokens), dim].

    Raises:
        FileNotFoundError: no file at `path`.
        ValueError: a vector of another size.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"Word vectors file not found: {path}")
    rng = np.random.default_rng(seed)
    matrix = rng.uniform(-0.05, 0.05, (len(tokens), dim)).astype(np.float32)
    matrix[0] = 0.0
    index = {token: i for i, token in enumerate(tokens)}
    found = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line_number, line in enumerate(f, 1):
            parts = line.rstrip().split(" ")
            if line_number == 1 and len(parts) == 2:
                continue
            word, values = parts[0], parts[1:]
            if word not in index:
                continue
            if len(values) != dim:
                raise ValueError(
                    f"{path}:{line_number}: vector of size {len(values)}, embedding_dim is {dim}."
                )
            matrix[index[word]] = np.asarray(values, dtype=np.float32)
            found += 1
    print(f"word vectors: {found} of {len(tokens) - 2} words found in {path}")
    return matrix
