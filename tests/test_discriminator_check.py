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


def test_plain_captions_name_every_attribute_in_one_wording():
    assert attributes.plain_captions(IDS) == [
        "a red striped t-shirt",
        "teal plain trousers",
        "a green checked ankle boot",
        "a navy blue dotted sandal",
    ]


def _phrase(attribute, triple):
    """The words `plain_caption` uses for `attribute` of a (class, colour, pattern) triple."""
    class_id, colour_id, pattern_id = triple
    return {
        "class": attributes.CLASS_WORDS[class_id][0],
        "colour": attributes.COLOUR_NAMES[colour_id],
        "pattern": attributes.PATTERN_ADJECTIVES[pattern_id][0],
    }[attribute].split()


def _article(triple):
    """The article agreeing with the noun and colour: none, "a" or "an"."""
    class_id, colour_id, _ = triple
    if attributes.CLASS_WORDS[class_id][0] in attributes.PLURAL_NOUNS:
        return []
    return ["an"] if attributes.COLOUR_NAMES[colour_id][0] in "aeiou" else ["a"]


def _without_article(tokens):
    return tokens[1:] if tokens[0] in ("a", "an") else tokens


def _span(tokens, phrase):
    """Start of the one occurrence of `phrase` in `tokens`."""
    starts = [i for i in range(len(tokens)) if tokens[i : i + len(phrase)] == phrase]
    assert len(starts) == 1, (tokens, phrase)
    return starts[0]


ALL_TRIPLES = [
    (c, o, p)
    for c in range(len(attributes.CLASS_WORDS))
    for o in range(len(attributes.COLOUR_NAMES))
    for p in range(len(attributes.PATTERN_ADJECTIVES))
]
POSITION = {"class": 0, "colour": 1, "pattern": 2}


@pytest.mark.parametrize("attribute", ["class", "colour", "pattern"])
def test_captions_of_triples_differing_in_one_attribute_differ_in_that_word_only(attribute):
    # Every triple against every other value of `attribute`: the token lists
    # are equal once the old words of the attribute are replaced by the new
    # ones, apart from the article, which only agrees with noun and colour.
    position = POSITION[attribute]
    pairs = 0
    for triple in ALL_TRIPLES:
        before = attributes.plain_caption(*triple).split()
        for value in range(len(_values(attribute))):
            if value == triple[position]:
                continue
            changed = list(triple)
            changed[position] = value
            changed = tuple(changed)
            after = attributes.plain_caption(*changed).split()

            body = _without_article(before)
            start = _span(body, _phrase(attribute, triple))
            old, new = _phrase(attribute, triple), _phrase(attribute, changed)
            expected = body[:start] + new + body[start + len(old) :]
            assert _without_article(after) == expected, (before, after)
            assert before[: len(before) - len(body)] == _article(triple), before
            assert after[: len(after) - len(expected)] == _article(changed), after
            assert old != new
            pairs += 1
    assert pairs == len(ALL_TRIPLES) * (len(_values(attribute)) - 1)


def _values(attribute):
    return {
        "class": attributes.CLASS_WORDS,
        "colour": attributes.COLOUR_NAMES,
        "pattern": attributes.PATTERN_ADJECTIVES,
    }[attribute]


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
