"""TextToImage built from a config: shapes, determinism per seed, input errors."""

import numpy as np
import pytest
import tensorflow as tf

from fashion_t2i.config import get_preset
from fashion_t2i.text import vocabulary as vocabulary_lib
from fashion_t2i.text_to_image import TextToImage

CONFIG = get_preset("smoke")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("vocab") / vocabulary_lib.FILENAME)
    captions = ["red striped dress", "blue plain sneaker"]
    vocabulary_lib.save_vocabulary(vocabulary_lib.build_vocabulary(captions), path)
    return TextToImage.from_config(CONFIG, path, max_batch=3)


def test_from_config_generates_one_image_per_text_at_the_final_stage_size(model):
    outputs = model.generate(tf.constant(["red striped dress", "blue sneaker"]), [1, 2])
    size = CONFIG.model.stage_sizes[-1]

    assert outputs["images"].dtype == tf.uint8
    assert outputs["images"].shape == (2, size, size, 3)
    assert outputs["tokens"].numpy()[1, :2].tolist() == [b"blue", b"sneaker"]
    assert model.config is CONFIG and model.max_batch == 3


def test_the_same_seed_gives_the_same_image_and_another_seed_another(model):
    texts = tf.constant(["red striped dress"] * 3)
    images = model.generate(texts, tf.constant([7, 7, 8], tf.int64))["images"].numpy()

    np.testing.assert_array_equal(images[0], images[1])
    assert np.abs(images[0].astype(int) - images[2].astype(int)).max() > 0


def test_batches_above_max_batch_are_refused(model):
    with pytest.raises(tf.errors.InvalidArgumentError):
        model.generate(tf.constant(["red dress"] * 4), tf.range(4, dtype=tf.int64))


def test_a_missing_vocabulary_is_named(tmp_path):
    missing = str(tmp_path / "nope.txt")
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        TextToImage.from_config(CONFIG, missing)
