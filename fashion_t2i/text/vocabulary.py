"""Building, saving and loading the vocabulary file.

The file has one token per line; the line number is the token id. Line 0 is
the padding token and line 1 the out-of-vocabulary token, so ids 0 and 1 keep
their meaning in every vocabulary.
"""

import collections
import os

import tensorflow as tf

from fashion_t2i import files
from fashion_t2i.text import normalization

FILENAME = "vocabulary.txt"
PAD_TOKEN = "[PAD]"
OOV_TOKEN = "[UNK]"
PAD_ID = 0
OOV_ID = 1
RESERVED = (PAD_TOKEN, OOV_TOKEN)


def caption_words(captions, batch_size=1024):
    """Yields the words of each caption (a list of `str`), as the serving graph splits them.

    Args:
        captions: iterable of `str` or UTF-8 `bytes`.
        batch_size: captions normalised per TensorFlow call.
    """
    batch = []

    def flush():
        words = normalization.split_words(normalization.normalize(tf.constant(batch)))
        batch.clear()
        return [[w.decode("utf-8") for w in row] for row in words.numpy()]

    for caption in captions:
        batch.append(caption.encode("utf-8") if isinstance(caption, str) else caption)
        if len(batch) == batch_size:
            yield from flush()
    if batch:
        yield from flush()


def build_vocabulary(captions, min_count=1, max_vocab=0, batch_size=1024):
    """Counts words in `captions` with the serving-graph normalisation.

    Args:
        captions: iterable of `str` or UTF-8 `bytes`.
        min_count: words seen fewer times are left out.
        max_vocab: maximum size including the two reserved tokens (0: none).
        batch_size: captions normalised per TensorFlow call.

    Returns:
        The list of tokens, reserved tokens first, then words by decreasing
        count (ties in alphabetical order, so the result is deterministic).

    Raises:
        ValueError: no word reaches `min_count`.
    """
    counts = collections.Counter()
    for words in caption_words(captions, batch_size):
        counts.update(words)
    words = sorted(
        (w for w, c in counts.items() if c >= min_count and w not in RESERVED),
        key=lambda w: (-counts[w], w),
    )
    if not words:
        raise ValueError(
            f"No word occurs at least min_count={min_count} times in the captions."
        )
    if max_vocab:
        words = words[: max(0, max_vocab - len(RESERVED))]
    return list(RESERVED) + words


def extend_vocabulary(tokens, words):
    """`tokens` followed by the `words` it lacks, in their order.

    The ids of `tokens` do not change, so the words of the training captions
    keep the first ids and the pretrained words follow.
    """
    known = set(tokens)
    extra = []
    for word in words:
        if word not in known:
            known.add(word)
            extra.append(word)
    return list(tokens) + extra


def save_vocabulary(tokens, path):
    """Writes one token per line (UTF-8), atomically."""
    files.write_text(path, "".join(token + "\n" for token in tokens))


def load_vocabulary(path):
    """Reads a vocabulary file written by `save_vocabulary`.

    Raises:
        FileNotFoundError: no file at `path`.
        ValueError: the file does not start with the reserved tokens or
            repeats a token.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"Vocabulary file not found: {path}")
    with open(path, encoding="utf-8") as f:
        tokens = [line.rstrip("\n") for line in f]
    if tuple(tokens[: len(RESERVED)]) != RESERVED:
        raise ValueError(f"{path}: a vocabulary file must start with the lines {RESERVED}.")
    if len(set(tokens)) != len(tokens):
        raise ValueError(f"{path}: the vocabulary repeats a token.")
    return tokens
