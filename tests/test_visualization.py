"""fashion_t2i.visualization: attention overlays labelled with their words, and the TensorBoard summary."""

import numpy as np
import tensorflow as tf

from fashion_t2i import evaluation_hooks
from fashion_t2i import visualization

SIZE = 32
WORDS = 3


def inputs(batch=2):
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (batch, SIZE, SIZE, 3)).astype(np.float32)
    attention = rng.uniform(0, 1, (batch, WORDS, 4, 4)).astype(np.float32)
    return images, attention


def strips(overlays):
    """The label strip under every tile: [B, 1 + num_words, LABEL_HEIGHT, W, 3]."""
    return overlays[:, :, SIZE:]


def test_without_words_the_overlays_keep_the_image_size():
    images, attention = inputs()

    overlays = visualization.attention_overlays(images, attention, WORDS)

    assert overlays.shape == (2, 1 + WORDS, SIZE, SIZE, 3) and overlays.dtype == np.uint8


def test_each_map_gets_a_strip_naming_its_word():
    images, attention = inputs()
    words = [[b"red", b"dress", b"boot"], ["red", "", "dress"]]

    overlays = visualization.attention_overlays(images, attention, WORDS, words=words)

    assert overlays.shape == (2, 1 + WORDS, SIZE + visualization.LABEL_HEIGHT, SIZE, 3)
    np.testing.assert_array_equal(overlays[:, :, :SIZE], visualization.attention_overlays(images, attention, WORDS))
    labels = strips(overlays)
    ink = (labels < 128).any(axis=-1).sum(axis=(2, 3))  # dark pixels per strip
    assert (ink[:, 0] == 0).all(), "the image's own strip is blank"
    assert (ink[0, 1:] > 0).all()
    assert ink[1, 2] == 0, "padding has no label"
    # The same word draws the same strip; different words draw different ones.
    np.testing.assert_array_equal(labels[0, 1], labels[1, 1])
    np.testing.assert_array_equal(labels[0, 2], labels[1, 3])
    assert not np.array_equal(labels[0, 1], labels[0, 2])


def test_a_strip_is_the_default_font_text_of_its_word():
    red = visualization.label_strip("red", SIZE)
    blue = visualization.label_strip("blue", SIZE)

    assert red.shape == (visualization.LABEL_HEIGHT, SIZE, 3) and red.dtype == np.uint8
    assert (red < 128).any() and not np.array_equal(red, blue)
    assert (visualization.label_strip("", SIZE) == 255).all()


def test_fewer_words_than_maps_are_padded_with_blank_strips():
    images, attention = inputs(batch=1)

    overlays = visualization.attention_overlays(images, attention, WORDS + 1, words=[["red"]])

    ink = (strips(overlays) < 128).any(axis=-1).sum(axis=(2, 3))
    assert overlays.shape[1] == WORDS + 2
    assert ink[0].tolist()[0] == 0 and ink[0, 1] > 0 and (ink[0, 2:] == 0).all()


def test_attention_summary_writes_the_labelled_grid(tmp_path):
    images, attention = inputs()
    tokens = np.array([[b"red", b"dress", b""], [b"blue", b"boot", b"coat"]])
    writer = tf.summary.create_file_writer(str(tmp_path))

    evaluation_hooks.write_attention_summary("attention", images, attention, tokens, [2, 3], 1, writer)
    writer.flush()

    grids = []
    for event in tf.compat.v1.train.summary_iterator(str(next(tmp_path.iterdir()))):
        for value in event.summary.value:
            if value.tag == "attention":
                grids.append(tf.io.decode_png(tf.make_ndarray(value.tensor)[2]).numpy())
    (grid,) = grids
    row_height = SIZE + visualization.LABEL_HEIGHT
    assert grid.shape == (2 * row_height, (1 + WORDS) * SIZE, 3)
    first_row_strip = grid[SIZE:row_height]
    ink = [(first_row_strip[:, i * SIZE : (i + 1) * SIZE] < 128).any(axis=-1).sum() for i in range(1 + WORDS)]
    assert ink[0] == 0 and ink[1] > 0 and ink[2] > 0 and ink[3] == 0
    np.testing.assert_array_equal(
        first_row_strip[:, SIZE : 2 * SIZE], visualization.label_strip("red", SIZE)
    )
