"""Random batches shaped like the input pipeline's, for tests and benchmarks."""

import numpy as np
import tensorflow as tf

from fashion_t2i.data.attributes import ATTRIBUTE_HEADS


def fake_batch(config, vocabulary_size, seed=0, nan_images=False):
    """A training batch like `InputPipeline` yields, of random values, for `config`'s sizes.

    Captions have 1 to `max_words` words of ids in [2, vocabulary_size),
    then padding; the wrong caption of example i is the caption of example
    i + 1; every example has its own content id.

    Args:
        config: a run `Config` (batch size, words, stage sizes).
        vocabulary_size: the token ids' range.
        seed: seed of every value.
        nan_images: put one NaN pixel into every stage's first image.

    With `config.model.auxiliary_attributes`, the batch also has random
    ids of those attributes (`class_id`, ...).
    """
    rng = np.random.default_rng(seed)
    batch_size, max_words = config.data.batch_size, config.text.max_words
    images = []
    for size in config.model.stage_sizes:
        x = rng.uniform(-1.0, 1.0, (batch_size, size, size, 3)).astype(np.float32)
        if nan_images:
            x[0, 0, 0, 0] = np.nan
        images.append(tf.constant(x))
    lengths = rng.integers(1, max_words + 1, size=batch_size).astype(np.int32)
    ids = np.zeros((batch_size, max_words), np.int32)
    for i, length in enumerate(lengths):
        ids[i, :length] = rng.integers(2, vocabulary_size, size=length)
    batch = {
        "images": tuple(images),
        "token_ids": tf.constant(ids),
        "lengths": tf.constant(lengths),
        "wrong_token_ids": tf.constant(np.roll(ids, -1, axis=0)),
        "wrong_lengths": tf.constant(np.roll(lengths, -1)),
        "content_id": tf.constant(np.arange(batch_size), tf.int64),
    }
    for name in config.model.auxiliary_attributes:
        key, count = ATTRIBUTE_HEADS[name]
        batch[key] = tf.constant(rng.integers(0, count, size=batch_size), tf.int32)
    return batch
