"""Captions with one attribute changed, for `fashion_t2i.discriminator_check`."""

import numpy as np
import pytest

from fashion_t2i import discriminator_check
from fashion_t2i.data import fashion_mnist_builder

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
    assert fashion_mnist_builder.plain_caption(3, 6, 0) == "an orange plain dress"
