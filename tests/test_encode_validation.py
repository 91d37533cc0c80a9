"""encode_validation: the validation pairs of the training batches, re-batched for the DAMSM."""

import numpy as np
import pytest
import tensorflow as tf

from fashion_t2i.data import schema
from fashion_t2i.evaluation_hooks import ENCODE_BATCH_SIZE, encode_validation

TRAINING_BATCH = 4


class StandIn:
    """A DAMSM stand-in whose features are each pair's content id; records its batch sizes."""

    def __init__(self):
        self.batch_sizes = []

    def __call__(self, batch, training=False):
        assert training is False
        ids = tf.cast(batch["content_id"], tf.float32)[:, None]
        self.batch_sizes.append(int(tf.shape(ids)[0]))
        return {"global_feature": ids * [1.0, 2.0], "sentence_feature": -ids}


def validation_batches(count, held_out=True):
    """`count` pairs with content ids 0..count-1, in training batches (the remainder dropped)."""
    pairs = {"content_id": np.arange(count, dtype=np.int64)}
    if held_out:
        pairs[schema.HELD_OUT] = (np.arange(count) % 3 == 0).astype(np.int64)
    return tf.data.Dataset.from_tensor_slices(pairs).batch(TRAINING_BATCH, drop_remainder=True)


def test_fewer_pairs_than_one_encode_batch_are_all_encoded_in_order():
    # 30 pairs in batches of 4: 28 reach the evaluation, fewer than ENCODE_BATCH_SIZE.
    damsm = StandIn()
    images, sentences, ids, sets = encode_validation(damsm, validation_batches(30), 100)
    np.testing.assert_array_equal(ids, np.arange(28))
    np.testing.assert_array_equal(images, np.arange(28)[:, None] * [1.0, 2.0])
    np.testing.assert_array_equal(sentences, -np.arange(28)[:, None])
    np.testing.assert_array_equal(sets["held_out"], np.arange(0, 28, 3))
    assert len(sets["in_vocabulary"]) + len(sets["held_out"]) == 28
    assert damsm.batch_sizes == [28]


@pytest.mark.parametrize("max_examples", [10, 64, 130])
def test_the_first_max_examples_pairs_in_batches_of_the_encode_size(max_examples):
    damsm = StandIn()
    images, sentences, ids, sets = encode_validation(damsm, validation_batches(150), max_examples)
    np.testing.assert_array_equal(ids, np.arange(max_examples))
    assert images.shape == (max_examples, 2) and sentences.shape == (max_examples, 1)
    np.testing.assert_array_equal(sets["held_out"], np.arange(0, max_examples, 3))
    # Stops at the first encode batch that reaches max_examples.
    batches = -(-max_examples // ENCODE_BATCH_SIZE)
    assert damsm.batch_sizes == [min(ENCODE_BATCH_SIZE, 148 - i * ENCODE_BATCH_SIZE)
                                 for i in range(batches)]


def test_data_without_held_out_marks_has_no_caption_sets():
    _, _, ids, sets = encode_validation(StandIn(), validation_batches(12, held_out=False), 100)
    np.testing.assert_array_equal(ids, np.arange(12))
    assert sets == {}
