"""Captions with one attribute changed, for `fashion_t2i.discriminator_check`."""

import numpy as np
import tensorflow as tf
import pytest

from fashion_t2i import discriminator_check
from fashion_t2i.data import attributes

IDS = {
    "class": np.array([0, 1, 9, 5]),
    "colour": np.array([0, 12, 3, 1]),
    "pattern": np.array([1, 0, 3, 2]),
}
SIZES = {"class": 10, "colour": 13, "pattern": 4}


@pytest.mark.parametrize("attribute", ["class", "colour", "pattern"])
def test_swapped_ids_change_only_that_attribute_to_another_valid_value(attribute):
    rng = np.random.default_rng(0)
    original = {k: v.copy() for k, v in IDS.items()}
    for _ in range(20):
        out = discriminator_check.swapped_ids(IDS, attribute, rng)
        assert np.all(out[attribute] != IDS[attribute])
        assert np.all((out[attribute] >= 0) & (out[attribute] < SIZES[attribute]))
        for other in set(IDS) - {attribute}:
            np.testing.assert_array_equal(out[other], IDS[other])
    # The input is not modified.
    for name in IDS:
        np.testing.assert_array_equal(IDS[name], original[name])


def test_plain_captions_name_every_attribute_in_one_wording():
    assert discriminator_check.plain_captions(IDS) == [
        "a red striped t-shirt",
        "teal plain trousers",
        "a green checked ankle boot",
        "a navy blue dotted sandal",
    ]


def test_captions_of_a_swapped_attribute_differ_in_that_word_only():
    rng = np.random.default_rng(1)
    before = discriminator_check.plain_captions(IDS)
    after = discriminator_check.plain_captions(discriminator_check.swapped_ids(IDS, "pattern", rng))
    for a, b in zip(before, after):
        assert a != b and a.split()[-1] == b.split()[-1]


def test_plain_caption_uses_an_before_a_vowel():
    assert attributes.plain_caption(3, 6, 0) == "an orange plain dress"


class _ColourOnlyGAN:
    """Stand-in GAN whose one discriminator checks the colour word and nothing else.

    Its "images" are colour ids; the conditional logit is 1 when the caption
    names the image's colour, else 0 (ties count as not winning).
    """

    def __init__(self):
        self.discriminators = [self._discriminator]

    @staticmethod
    def encode_text(captions):
        return None, captions

    @staticmethod
    def _discriminator(images, sentence, training=False):
        names = [attributes.COLOUR_NAMES[i] for i in images.numpy()]
        captions = [c.decode() for c in sentence.numpy()]
        logits = [float(f" {name} " in f" {c} ") for name, c in zip(names, captions)]
        return None, tf.constant(logits), None


def test_check_reports_the_attributes_a_discriminator_reads():
    result = discriminator_check.check(
        _ColourOnlyGAN(), lambda captions: (captions, None), [IDS["colour"]], IDS, seed=0
    )
    # Changing the colour always loses; class and pattern changes tie.
    assert result == {"stage1": {"class": 0.0, "colour": 1.0, "pattern": 0.0}}
