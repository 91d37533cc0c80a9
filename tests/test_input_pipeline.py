"""Tests of `InputPipeline` on a tiny HDF5 file (40 rows, 32 px, attributes)."""

import numpy as np
import pytest
import tensorflow as tf

from fashion_t2i.config import DataConfig
from fashion_t2i.data import schema
from fashion_t2i.data.fashion_gen_reader import FashionGenReader
from fashion_t2i.data.input_pipeline import InputPipeline
from fashion_t2i.text import vocabulary
from fashion_t2i.text.tokenizer import Tokenizer

NUM = 40
SIZE = 32
STAGES = (16, 32)
MAX_WORDS = 6
COLOURS = ["red", "navy blue", "green", "black", "white"]
GARMENTS = ["dress", "t-shirt", "ankle boot", "pullover", "coat", "café skirt", "bag", "sandal"]


def _caption(row):
    return f"A {COLOURS[row % 5]} {GARMENTS[row % 8]}, number {row}"


def _image(row):
    """A smooth image (so resizes are well approximated), different per row."""
    y, x = np.meshgrid(np.linspace(0, 1, SIZE), np.linspace(0, 1, SIZE), indexing="ij")
    channels = [
        200 * x + 2 * row,
        200 * y + 3 * (row % 7),
        120 * (x + y) / 2 + 100 * (row % 2),
    ]
    return np.clip(np.stack(channels, -1), 0, 255).round().astype(np.uint8)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pipeline")
    path = str(directory / "tiny.h5")
    with schema.create(path, NUM, SIZE, attributes=True) as f:
        f[schema.IMAGE][:] = np.stack([_image(i) for i in range(NUM)])
        f[schema.DESCRIPTION][:, 0] = [_caption(i).encode("latin-1") for i in range(NUM)]
        f[schema.NAME][:, 0] = [b"item"] * NUM
        f[schema.CATEGORY][:, 0] = [b"TOPS"] * NUM
        f[schema.PRODUCT_ID][:, 0] = np.arange(NUM)
        f["class_id"][:] = np.arange(NUM) % 8
        f["colour_id"][:] = np.arange(NUM) % 5
        f["pattern_id"][:] = np.arange(NUM) % 2
    reader = FashionGenReader(path, block_size=8)
    vocab_path = str(directory / "vocab.txt")
    vocabulary.save_vocabulary(vocabulary.build_vocabulary(reader.captions()), vocab_path)
    tokenizer = Tokenizer(vocab_path, max_words=MAX_WORDS)
    return reader, tokenizer


def _config(**kwargs):
    values = dict(batch_size=8, shuffle_buffer=16, block_size=8, deterministic=True, seed=0)
    values.update(kwargs)
    return DataConfig(**values)


def _pipeline(data, training=True, **config):
    reader, tokenizer = data
    return InputPipeline(reader, tokenizer, STAGES, _config(**config), training=training)


def _batches(pipeline, repeat=False, **kwargs):
    return [
        tf.nest.map_structure(lambda t: t.numpy(), batch)
        for batch in pipeline.dataset(repeat=repeat, **kwargs)
    ]


@pytest.fixture(scope="module")
def train_batches(data):
    """One epoch of training batches, seed 3 (built once: pipelines cost ~1 s)."""
    return _batches(_pipeline(data, seed=3))


@pytest.fixture(scope="module")
def eval_batches(data):
    """One epoch of evaluation batches; the seed must not matter."""
    return _batches(_pipeline(data, training=False, seed=5, deterministic=False))


def _take(ds, n):
    return [tf.nest.map_structure(lambda t: t.numpy(), b) for b in ds.take(n)]


def _plain(image, size):
    x = tf.cast(image, tf.float32) / 127.5 - 1.0
    return tf.image.resize(x, [size, size], antialias=True).numpy()


def test_batch_keys_shapes_dtypes(data, train_batches):
    spec = _pipeline(data).dataset(repeat=False).element_spec
    keys = {
        "images", "caption", "token_ids", "lengths", "wrong_token_ids", "wrong_lengths",
        "product_id", "class_id", "colour_id", "pattern_id", "held_out_words", "content_id",
    }
    assert set(spec) == keys
    assert [s.shape for s in spec["images"]] == [(8, 16, 16, 3), (8, 32, 32, 3)]
    assert [s.dtype for s in spec["images"]] == [tf.float32, tf.float32]
    assert spec["caption"].dtype == tf.string
    assert spec["product_id"].dtype == spec["content_id"].dtype == tf.int64
    for key in ("token_ids", "wrong_token_ids", "lengths", "wrong_lengths",
                "class_id", "colour_id", "pattern_id", "held_out_words"):
        assert spec[key].dtype == tf.int32, key
    batch = train_batches[0]
    assert set(batch) == keys
    assert isinstance(batch["images"], tuple) and len(batch["images"]) == 2
    for image, size in zip(batch["images"], STAGES):
        assert image.dtype == np.float32
        assert image.shape == (8, size, size, 3)
    assert batch["caption"].shape == (8,) and isinstance(batch["caption"][0], bytes)
    for key in ("token_ids", "wrong_token_ids"):
        assert batch[key].dtype == np.int32 and batch[key].shape == (8, MAX_WORDS)
    for key in ("lengths", "wrong_lengths", "class_id", "colour_id", "pattern_id",
                "held_out_words"):
        assert batch[key].dtype == np.int32 and batch[key].shape == (8,)
    for key in ("product_id", "content_id"):
        assert batch[key].dtype == np.int64 and batch[key].shape == (8,)


def test_every_key_has_the_static_batch_size(data):
    """`dataset()` promises a static batch size (drop remainder) for every key."""
    spec = _pipeline(data).dataset(repeat=False).element_spec
    shapes = {key: s.shape.as_list() for key, s in spec.items() if key != "images"}
    assert shapes == {
        "caption": [8], "product_id": [8], "class_id": [8], "colour_id": [8],
        "pattern_id": [8], "held_out_words": [8], "content_id": [8], "token_ids": [8, MAX_WORDS],
        "lengths": [8], "wrong_token_ids": [8, MAX_WORDS], "wrong_lengths": [8],
    }


@pytest.mark.parametrize("split", ["train", "eval"])
def test_images_in_range(train_batches, eval_batches, split):
    batches = train_batches if split == "train" else eval_batches
    for batch in batches:
        for image in batch["images"]:
            assert image.min() >= -1.0 and image.max() <= 1.0
        # Not all one value: the images are really there.
        assert batch["images"][-1].std() > 0.1


def test_drop_remainder_batch_8(eval_batches, train_batches):
    assert len(eval_batches) == len(train_batches) == NUM // 8
    for batch in eval_batches + train_batches:
        assert batch["caption"].shape == (8,)


@pytest.mark.parametrize("batch_size, expected", [(12, 3), (16, 2)])
def test_drop_remainder(data, batch_size, expected):
    batches = _batches(_pipeline(data, training=False), batch_size=batch_size)
    assert len(batches) == expected
    for batch in batches:
        assert batch["caption"].shape == (batch_size,)
        assert batch["images"][0].shape[0] == batch_size
        assert batch["token_ids"].shape[0] == batch_size


def test_token_ids_match_the_tokenizer(data, train_batches):
    _, tokenizer = data
    for batch in train_batches:
        ids, lengths = tokenizer(tf.constant(batch["caption"]))
        np.testing.assert_array_equal(batch["token_ids"], ids.numpy())
        np.testing.assert_array_equal(batch["lengths"], lengths.numpy())
        assert (batch["lengths"] > 0).all()
        assert (batch["token_ids"][:, 0] > vocabulary.OOV_ID).all()


def test_wrong_captions_are_the_next_example(train_batches):
    for batch in train_batches:
        np.testing.assert_array_equal(
            batch["wrong_token_ids"], np.roll(batch["token_ids"], -1, axis=0)
        )
        np.testing.assert_array_equal(batch["wrong_lengths"], np.roll(batch["lengths"], -1))
        # Every caption is unique, so no example is paired with its own ids.
        assert (batch["wrong_token_ids"] != batch["token_ids"]).any(axis=1).all()


def test_content_id_is_the_attribute_combination(train_batches):
    for batch in train_batches:
        triples = list(zip(batch["class_id"], batch["colour_id"], batch["pattern_id"]))
        # Equal ids exactly when the (class, colour, pattern) triples are equal.
        for i in range(len(triples)):
            for j in range(len(triples)):
                same_id = batch["content_id"][i] == batch["content_id"][j]
                assert same_id == (triples[i] == triples[j])


def test_content_id_is_the_product_id_without_attributes(tmp_path, data):
    _, tokenizer = data
    path = str(tmp_path / "plain.h5")
    with schema.create(path, 16, SIZE) as f:
        f[schema.IMAGE][:] = np.stack([_image(i) for i in range(16)])
        f[schema.DESCRIPTION][:, 0] = [_caption(i).encode() for i in range(16)]
        f[schema.NAME][:, 0] = [b"item"] * 16
        f[schema.CATEGORY][:, 0] = [b"TOPS"] * 16
        f[schema.PRODUCT_ID][:, 0] = 500 + np.arange(16)
    reader = FashionGenReader(path, block_size=8)
    pipeline = InputPipeline(reader, tokenizer, STAGES, _config(), training=False)
    batches = _batches(pipeline)
    assert "class_id" not in batches[0]
    for batch in batches:
        np.testing.assert_array_equal(batch["content_id"], batch["product_id"])


def _same(a, b):
    flat_a, flat_b = tf.nest.flatten(a), tf.nest.flatten(b)
    return len(flat_a) == len(flat_b) and all(
        x.shape == y.shape and np.array_equal(x, y) for x, y in zip(flat_a, flat_b)
    )


def test_deterministic_same_seed_same_batches(data, train_batches):
    again = _batches(_pipeline(data, seed=3))
    assert len(again) == len(train_batches) == 5
    assert all(_same(a, b) for a, b in zip(train_batches, again))


def test_different_seed_different_batches(data, train_batches):
    other = _batches(_pipeline(data, seed=4))
    ids_first = np.concatenate([b["product_id"] for b in train_batches])
    ids_second = np.concatenate([b["product_id"] for b in other])
    assert not np.array_equal(ids_first, ids_second)
    assert not all(_same(a, b) for a, b in zip(train_batches, other))


def test_training_repeats_by_default_deterministically(data):
    """Training repeats forever (past the 5 batches of an epoch), same seed same batches."""
    first, second = (_take(_pipeline(data, seed=3).dataset(), 8) for _ in range(2))
    assert len(first) == len(second) == 8
    assert all(_same(a, b) for a, b in zip(first, second))


def test_training_shuffles_and_covers_each_row_once(train_batches):
    ids = np.concatenate([b["product_id"] for b in train_batches])
    assert len(ids) == NUM and len(set(ids)) == NUM
    assert not np.array_equal(ids, np.arange(NUM))


def test_evaluation_is_file_order_without_augmentation(data, eval_batches):
    reader, _ = data
    ids = np.concatenate([b["product_id"] for b in eval_batches])
    np.testing.assert_array_equal(ids, np.arange(NUM))
    captions = np.concatenate([b["caption"] for b in eval_batches])
    assert [c.decode() for c in captions] == [_caption(i) for i in range(NUM)]
    for batch in eval_batches:
        for i, row in enumerate(batch["product_id"]):
            stored = reader.read_rows([row])["image"][0]
            np.testing.assert_array_equal(stored, _image(row))
            expected = stored.astype(np.float32) / 127.5 - 1.0
            # The final stage is the stored size: the image itself.
            np.testing.assert_allclose(batch["images"][1][i], expected, atol=1e-5)
            # Smaller stages are a plain resize of it.
            np.testing.assert_allclose(batch["images"][0][i], _plain(stored, 16), atol=1e-5)
            box = expected.reshape(16, 2, 16, 2, 3).mean(axis=(1, 3))
            np.testing.assert_allclose(batch["images"][0][i], box, atol=0.03)
        np.testing.assert_array_equal(batch["class_id"], batch["product_id"] % 8)
        np.testing.assert_array_equal(batch["colour_id"], batch["product_id"] % 5)


def test_evaluation_ignores_the_seed_and_does_not_repeat(data, eval_batches):
    other = _batches(_pipeline(data, training=False, seed=2), repeat=None)
    assert len(other) == NUM // 8
    assert all(_same(a, b) for a, b in zip(eval_batches, other))


def test_training_augments(data, train_batches):
    """Random crop of the 76/64 enlargement and random flip: not the plain image."""
    reader, _ = data
    differs = 0
    for batch in train_batches:
        for i, row in enumerate(batch["product_id"]):
            plain = _plain(reader.read_rows([row])["image"][0], SIZE)
            if np.abs(batch["images"][1][i] - plain).max() > 0.05:
                differs += 1
    assert differs > NUM // 2


def test_training_without_augment_is_plain(data):
    reader, _ = data
    for batch in _batches(_pipeline(data, augment=False)):
        for i, row in enumerate(batch["product_id"]):
            stored = reader.read_rows([row])["image"][0]
            np.testing.assert_allclose(batch["images"][1][i], _plain(stored, SIZE), atol=1e-5)


def test_stages_are_consistent_after_augmentation(train_batches):
    """Every stage shows the same crop: the small stage is a resize of the large one."""
    for batch in train_batches[:2]:
        small, large = batch["images"]
        expected = tf.image.resize(large, [16, 16], antialias=True).numpy()
        np.testing.assert_allclose(small, np.clip(expected, -1, 1), atol=1e-5)
