"""Tiny builders and helpers shared by the model tests (layers, DAMSM, AttnGAN)."""

import keras
import numpy as np
import tensorflow as tf

from fashion_t2i import fake_data
from fashion_t2i.config import get_preset

VOCABULARY_SIZE = 20


def smoke_config(batch_size=2):
    """The `smoke` preset (16/32 px stages, joint_dim 16, 8 words) with a small batch."""
    return get_preset("smoke").replace(data={"batch_size": batch_size})


def token_ids(batch_size, max_words, seed=0, lengths=None):
    """Token ids [B, T] with ids in [2, VOCABULARY_SIZE) followed by padding 0."""
    rng = np.random.default_rng(seed)
    if lengths is None:
        lengths = rng.integers(1, max_words + 1, size=batch_size)
    ids = np.zeros((batch_size, max_words), np.int32)
    for i, length in enumerate(lengths):
        ids[i, :length] = rng.integers(2, VOCABULARY_SIZE, size=length)
    return ids, np.asarray(lengths, np.int32)


def fake_batch(config, seed=0, nan_images=False):
    """`fake_data.fake_batch` over the tests' vocabulary."""
    return fake_data.fake_batch(config, VOCABULARY_SIZE, seed, nan_images)


def snapshot(variables):
    """numpy copies of `variables`, to compare before and after a step."""
    return [np.array(v.numpy(), copy=True) for v in variables]


def changed(before, after):
    """Per variable: whether any element differs."""
    return [not np.array_equal(a, b) for a, b in zip(before, after)]


def assert_config_round_trip(layer):
    """serialize -> deserialize gives a layer with the same config; returns the copy."""
    copy = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(copy) is type(layer)
    assert copy.get_config() == layer.get_config()
    return copy


def assert_same_outputs(a, b, atol=0.0):
    """Nested outputs (tuples, dicts, None) are equal element by element."""
    flat_a, flat_b = tf.nest.flatten(a), tf.nest.flatten(b)
    assert len(flat_a) == len(flat_b)
    for x, y in zip(flat_a, flat_b):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=atol, rtol=0)
