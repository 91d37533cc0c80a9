"""Edit consistency with stand-in generators and a perfect classifier."""

import numpy as np
import pytest

from fashion_t2i.metrics.edit_consistency import edit_consistency, swap_attribute

NUM_VALUES = {"class": 10, "colour": 13, "pattern": 4}
N = 200


def caption(ids):
    """A caption that spells the ids, parsed back by the stand-in generators."""
    return [f"{c} {o} {p}" for c, o, p in zip(ids["class"], ids["colour"], ids["pattern"])]


def parse(captions):
    values = np.array([[int(x) for x in text.split()] for text in captions])
    return {"class": values[:, 0], "colour": values[:, 1], "pattern": values[:, 2]}


def classify(images):
    """A perfect classifier of the stand-in 'images' (dicts of drawn ids)."""
    return images


def faithful(captions, seeds):
    return parse(captions)


def ignores_colour(captions, seeds):
    """Draws every attribute but the colour, which comes from the seed alone."""
    drawn = parse(captions)
    drawn["colour"] = np.asarray(seeds) % NUM_VALUES["colour"]
    return drawn


def colour_bleeds_into_class(captions, seeds):
    """Follows the colour word, but a colour change also changes the class."""
    drawn = parse(captions)
    drawn["class"] = (drawn["class"] + drawn["colour"]) % NUM_VALUES["class"]
    return drawn


@pytest.fixture
def ids():
    rng = np.random.default_rng(0)
    return {name: rng.integers(0, n, N) for name, n in NUM_VALUES.items()}


def run(generate, ids):
    return edit_consistency(generate, classify, caption, ids, np.arange(N), NUM_VALUES, rng=1)


def test_a_faithful_generator_follows_and_keeps_everything(ids):
    result = run(faithful, ids)
    assert set(result) == set(NUM_VALUES)
    for attribute, rates in result.items():
        assert rates["followed"] == 1.0
        others = [other for other in NUM_VALUES if other != attribute]
        assert {k: v for k, v in rates.items() if k != "followed"} == {
            **{f"{other}_kept": 1.0 for other in others},
            **{f"{other}_unchanged": 1.0 for other in others},
        }


def test_a_generator_that_ignores_the_colour_word_fails_the_colour_edit(ids):
    result = run(ignores_colour, ids)
    assert result["colour"]["followed"] < 0.2
    assert result["class"]["followed"] == 1.0 and result["pattern"]["followed"] == 1.0


def test_an_edit_that_changes_another_attribute_is_not_kept(ids):
    result = run(colour_bleeds_into_class, ids)
    assert result["colour"]["followed"] == 1.0
    assert result["colour"]["class_kept"] < 0.2
    assert result["colour"]["class_unchanged"] < 0.2
    assert result["pattern"]["class_kept"] < 0.2  # class = f(colour), drawn wrong from the start
    # ... but a pattern edit leaves that wrong class as it was.
    assert result["pattern"]["class_unchanged"] == 1.0


def wrong_class_kept_through_edits(captions, seeds):
    """Draws the class of the seed, whatever the words; the rest as the caption says."""
    drawn = parse(captions)
    drawn["class"] = np.asarray(seeds) % NUM_VALUES["class"]
    return drawn


def test_unchanged_tells_an_edit_that_keeps_the_design_from_a_right_one(ids):
    # The class is wrong about nine times in ten, so it is rarely "kept" as
    # the caption states it; but no colour or pattern edit changes it.
    result = run(wrong_class_kept_through_edits, ids)
    for attribute in ("colour", "pattern"):
        assert result[attribute]["followed"] == 1.0
        assert result[attribute]["class_kept"] < 0.2
        assert result[attribute]["class_unchanged"] == 1.0
    assert result["class"]["followed"] < 0.2


def test_swap_moves_only_that_attribute_to_another_valid_value(ids):
    original = {k: v.copy() for k, v in ids.items()}
    for attribute, count in NUM_VALUES.items():
        out = swap_attribute(ids, attribute, count, np.random.default_rng(3))
        assert np.all(out[attribute] != ids[attribute])
        assert np.all((out[attribute] >= 0) & (out[attribute] < count))
        for other in NUM_VALUES:
            if other != attribute:
                np.testing.assert_array_equal(out[other], ids[other])
    for name in ids:  # the input is not modified
        np.testing.assert_array_equal(ids[name], original[name])
