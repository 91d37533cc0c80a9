"""TextToImage built from a config: shapes, determinism per seed, input errors.

The per-seed promises (another caption gives another image; the image of a
text and seed does not depend on the rest of the batch) and the input
errors are checked in Python and through the exported SavedModel.
"""

import numpy as np
import pytest
import tensorflow as tf

from export import export_lib
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


# --- the per-seed promises, in Python and in the SavedModel ------------------------------


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    """The `generate` signature of `model` exported and loaded back."""
    path = export_lib.export_saved_model(model, str(tmp_path_factory.mktemp("export")), "t2i")
    loaded = tf.saved_model.load(path)
    return loaded.signatures["generate"]


def python_images(model, texts, seeds):
    return model.generate(tf.constant(texts, tf.string), tf.constant(seeds, tf.int64))[
        "images"
    ].numpy()


def saved_model_images(exported, texts, seeds):
    return exported(texts=tf.constant(texts, tf.string), seeds=tf.constant(seeds, tf.int64))[
        "images"
    ].numpy()


@pytest.fixture(params=["python", pytest.param("saved_model", marks=pytest.mark.slow)])
def images_of(request, model):
    """images_of(texts, seeds) -> uint8 images, from Python or from the SavedModel."""
    if request.param == "python":
        return lambda texts, seeds: python_images(model, texts, seeds)
    exported = request.getfixturevalue("exported")
    return lambda texts, seeds: saved_model_images(exported, texts, seeds)


def differing_pixels(a, b):
    return int(np.count_nonzero(a.astype(int) != b.astype(int)))


def test_the_same_seed_with_another_caption_gives_another_image(images_of):
    images = images_of(["red striped dress", "blue plain sneaker", "red plain dress"], [7, 7, 7])
    pixels = images[0].size
    assert differing_pixels(images[0], images[1]) > pixels // 10
    assert differing_pixels(images[0], images[2]) > pixels // 10
    assert differing_pixels(images[1], images[2]) > pixels // 10


def test_a_text_and_seed_give_the_same_image_whatever_else_is_in_the_batch(images_of):
    alone = images_of(["red striped dress"], [7])[0]
    first = images_of(["red striped dress", "blue plain sneaker"], [7, 8])[0]
    # Other texts, other seeds, another position.
    second = images_of(["blue sneaker", "red striped dress", "plain dress"], [3, 7, 9])[1]
    np.testing.assert_array_equal(first, alone)
    np.testing.assert_array_equal(second, alone)


@pytest.mark.slow
def test_the_saved_model_gives_the_python_images(model, exported):
    texts, seeds = ["blue sneaker", "red striped dress", "plain dress"], [3, 7, 9]
    np.testing.assert_array_equal(
        saved_model_images(exported, texts, seeds), python_images(model, texts, seeds)
    )


# --- texts with nothing to condition on -------------------------------------------------

WORDLESS = ["!!! ... ---", "\U0001f457\u2728", " \t\n ", ""]


@pytest.mark.parametrize("text", WORDLESS, ids=["punctuation", "emoji", "whitespace", "empty"])
def test_a_text_without_letter_or_digit_is_refused(images_of, text):
    for texts in ([text], ["red striped dress", text]):
        with pytest.raises(tf.errors.InvalidArgumentError, match="at least one letter or digit"):
            images_of(texts, list(range(len(texts))))


def test_an_empty_batch_is_refused(images_of):
    with pytest.raises(tf.errors.InvalidArgumentError, match="at least one text"):
        images_of([], [])
