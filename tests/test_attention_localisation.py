"""Attention localisation: entropy and product mass, by hand."""

import numpy as np
import pytest

from fashion_t2i.metrics.attention_localisation import attention_localisation, region_masks


def test_uniform_and_one_hot_maps():
    attention = np.zeros((1, 2, 2, 2))
    attention[0, 0] = 0.25  # uniform
    attention[0, 1, 0, 1] = 1.0  # all on one region
    masks = np.array([[[False, True], [False, False]]])
    result = attention_localisation(attention, [2], masks)
    # Entropies 1 and 0; mass on the product 0.25 and 1; product area 1/4 for both words.
    assert result["normalized_entropy"] == pytest.approx(0.5)
    assert result["product_mass"] == pytest.approx(0.625)
    assert result["product_area"] == pytest.approx(0.25)
    # The uniform map's first region (argmax) is off the product; the one-hot one is on it.
    assert result["peak_on_product"] == pytest.approx(0.5)


def test_padding_words_are_ignored():
    attention = np.zeros((2, 3, 1, 2))
    attention[:, :, 0, 0] = 1.0  # every word on region 0
    attention[0, 2] = [[0.5, 0.5]]  # a padding word of caption 0 (length 2): not counted
    masks = np.array([[[True, False]], [[False, True]]])
    result = attention_localisation(attention, [2, 1], masks)
    # Words: caption 0 has 2 on the product, caption 1 has 1 off it.
    assert result["normalized_entropy"] == pytest.approx(0.0)
    assert result["product_mass"] == pytest.approx(2 / 3)
    assert result["product_area"] == pytest.approx(0.5)
    assert result["peak_on_product"] == pytest.approx(2 / 3)


def test_peak_on_product_ignores_how_peaked_the_maps_are():
    masks = np.array([[[False, True], [False, False]]])
    flat = np.full((1, 1, 2, 2), 0.25)
    nearly_flat = flat + np.array([-0.01, 0.01, 0.0, 0.0]).reshape(1, 1, 2, 2)
    result = attention_localisation(nearly_flat, [1], masks)
    assert result["peak_on_product"] == 1.0
    assert result["normalized_entropy"] > 0.99
    assert result["product_mass"] == pytest.approx(0.26)


def test_entropy_by_hand():
    attention = np.array([0.5, 0.25, 0.25, 0.0]).reshape(1, 1, 2, 2)
    result = attention_localisation(attention, [1], np.ones((1, 2, 2), bool))
    expected = -(0.5 * np.log(0.5) + 2 * 0.25 * np.log(0.25)) / np.log(4)
    assert result["normalized_entropy"] == pytest.approx(expected)
    assert result["product_mass"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "attention, lengths, masks, match",
    [
        (np.full((1, 1, 2, 2), 0.5), [1], np.ones((1, 2, 2), bool), "sum to 1"),
        (np.full((1, 1, 2, 2), 0.25), [1], np.ones((1, 3, 3), bool), "disagree"),
        (np.full((1, 1, 2, 2), 0.25), [0], np.ones((1, 2, 2), bool), "No caption"),
    ],
)
def test_bad_inputs(attention, lengths, masks, match):
    with pytest.raises(ValueError, match=match):
        attention_localisation(attention, lengths, masks)


def test_region_masks_follow_the_product():
    images = np.ones((1, 6, 6, 3), np.float32)  # white
    images[0, :3, :3] = -1.0  # a black square in the top left quarter
    images[0, 3:, 3:5] = -1.0  # two thirds of the bottom right quarter
    images[0, :3, 3] = -1.0  # a third of the top right quarter
    masks = region_masks(images, (2, 2))
    np.testing.assert_array_equal(masks[0], [[True, False], [False, True]])


def test_maps_of_a_bfloat16_damsm_are_computed_in_float32():
    """A bfloat16 softmax sums to 1 only to about 1e-2; the maps must sum to 1."""
    import tensorflow as tf

    from fashion_t2i.config import get_preset
    from fashion_t2i.evaluation_hooks import damsm_attention

    rng = np.random.default_rng(0)
    features = {
        "word_features": tf.cast(rng.normal(size=(3, 4, 16)) * 3, tf.bfloat16),
        "region_features": tf.cast(rng.normal(size=(3, 9, 16)) * 3, tf.bfloat16),
    }
    batch = {"token_ids": tf.constant([[5, 6, 7, 8], [5, 6, 0, 0], [9, 0, 0, 0]])}

    attention = damsm_attention(lambda batch, training: features, batch, get_preset("demo"))

    assert attention.shape == (3, 4, 3, 3)
    assert attention.dtype == np.float32
    sums = attention.reshape(3, 4, 9).sum(-1)
    real = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], bool)
    np.testing.assert_allclose(sums[real], 1.0, atol=1e-5)


def test_maps_follow_the_configured_attention():
    """With `similarity_attention="cosine"` a word's map is softmax(gamma1 * cosine) over regions."""
    import tensorflow as tf

    from fashion_t2i.config import get_preset
    from fashion_t2i.evaluation_hooks import damsm_attention

    rng = np.random.default_rng(1)
    words = rng.normal(size=(2, 3, 8)).astype(np.float32)
    regions = rng.normal(size=(2, 4, 8)).astype(np.float32)
    features = {"word_features": tf.constant(words), "region_features": tf.constant(regions)}
    batch = {"token_ids": tf.constant([[5, 6, 7], [5, 6, 0]])}
    config = get_preset("demo").replace(model={"similarity_attention": "cosine", "gamma1": 9.0})

    attention = damsm_attention(lambda batch, training: features, batch, config)

    for b, length in enumerate((3, 2)):
        for t in range(length):
            cosines = [
                words[b, t] @ regions[b, n]
                / (np.linalg.norm(words[b, t]) * np.linalg.norm(regions[b, n]))
                for n in range(4)
            ]
            expected = np.exp(9.0 * np.array(cosines))
            np.testing.assert_allclose(
                attention[b, t].ravel(), expected / expected.sum(), rtol=1e-5
            )
    # The seed's attention gives other maps for the same features.
    seed_config = config.replace(model={"similarity_attention": "attngan", "gamma1": 4.0})
    seed = damsm_attention(lambda batch, training: features, batch, seed_config)
    assert not np.allclose(seed[0, 0], attention[0, 0], atol=1e-3)
