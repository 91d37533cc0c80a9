"""Word edits: does changing one word change that attribute and keep the rest?

The point of word-level attention is that a description can be edited word
by word. For N (description, seed) pairs, the description's attribute ids
are written as a caption, then the same caption with one attribute's word
swapped for another value, and both are drawn with the same seed. An
attribute classifier then says, for each swapped attribute, how often the
new value is drawn (`followed`), how often every other attribute is drawn
as the caption states it (`<attribute>_kept`: bounded by how often that
attribute is drawn right at all, so for the class by the classifier's
accuracy on real images) and how often the classifier reads every other
attribute of the edited image as it read the image before the edit
(`<attribute>_unchanged`: the edit left it alone, right or wrong).
"""

import numpy as np


def swap_attribute(ids, attribute, num_values, rng):
    """`ids` ({attribute: [N] ints}) with `attribute` moved to another value in every row."""
    out = {name: np.asarray(values).copy() for name, values in ids.items()}
    shift = rng.integers(1, num_values, size=len(out[attribute]))
    out[attribute] = (out[attribute] + shift) % num_values
    return out


def edit_consistency(generate, classify, caption, ids, seeds, num_values, rng=0):
    """Follow-and-keep rates of single-word edits.

    Args:
        generate: `generate(captions, seeds) -> images` (one per caption).
        classify: `classify(images) -> {attribute: [N] predicted ids}`.
        caption: `caption(ids) -> list of N captions` for attribute ids.
        ids: {attribute: [N] int ids} of the original descriptions.
        seeds: [N] seeds, the same for an original and its edits.
        num_values: {attribute: number of values}; the attributes edited.
        rng: seed or `np.random.Generator` of the replacement values.

    Returns:
        {edited attribute: {"followed": rate, "<other>_kept": rate,
        "<other>_unchanged": rate, ...}}.
    """
    rng = np.random.default_rng(rng)
    before = classify(generate(caption(ids), seeds))
    result = {}
    for attribute, count in num_values.items():
        edited = swap_attribute(ids, attribute, count, rng)
        predicted = classify(generate(caption(edited), seeds))
        rates = {"followed": float(np.mean(predicted[attribute] == edited[attribute]))}
        for other in num_values:
            if other != attribute:
                rates[f"{other}_kept"] = float(np.mean(predicted[other] == edited[other]))
                rates[f"{other}_unchanged"] = float(np.mean(predicted[other] == before[other]))
        result[attribute] = rates
    return result
