"""Variety measures on hand-made images (fashion_t2i.metrics.diversity) and the seeds they are drawn with."""

import numpy as np
import pytest

from fashion_t2i import evaluate_lib
from fashion_t2i.metrics import diversity

WHITE = 255


def canvas(boxes, size=8, colour=(0, 0, 0)):
    """A white uint8 image with filled boxes (row0, row1, col0, col1)."""
    image = np.full((size, size, 3), WHITE, np.uint8)
    for r0, r1, c0, c1 in boxes:
        image[r0:r1, c0:c1] = colour
    return image


def test_identical_samples_have_zero_diversity():
    group = np.stack([canvas([(1, 5, 1, 5)])] * 4)
    assert diversity.group_diversity([group]) == {"pixel": 0.0, "silhouette": 0.0}


def test_pixel_distance_of_black_against_white_is_one():
    group = np.stack([np.zeros((4, 4, 3), np.uint8), np.full((4, 4, 3), WHITE, np.uint8)])
    assert diversity.pairwise_pixel_distance(group) == pytest.approx(1.0)


def test_pixel_distance_is_the_mean_rms_over_pairs():
    # Three grey levels 0, 0.5, 1 of a float image in [-1, 1]: pair RMS 0.5, 1, 0.5.
    group = np.stack([np.full((2, 2, 3), v, np.float32) for v in (-1.0, 0.0, 1.0)])
    assert diversity.pairwise_pixel_distance(group) == pytest.approx(2.0 / 3.0)


def test_silhouette_distance_is_one_minus_iou_by_hand():
    # Boxes of 4x4 = 16 and 4x2 = 8 pixels, overlapping in 8: IoU 8/16, distance 0.5.
    a = canvas([(0, 4, 0, 4)])
    b = canvas([(0, 4, 2, 4)])
    assert diversity.pairwise_silhouette_distance(np.stack([a, b])) == pytest.approx(0.5)
    # Disjoint shapes: IoU 0.
    c = canvas([(5, 7, 5, 7)])
    assert diversity.pairwise_silhouette_distance(np.stack([a, c])) == pytest.approx(1.0)
    # Overlapping, neither inside the other: 8 shared of 24, distance 2/3.
    d = canvas([(0, 4, 2, 6)])
    assert diversity.pairwise_silhouette_distance(np.stack([a, d])) == pytest.approx(2.0 / 3.0)


def test_silhouette_ignores_colour_and_pixel_distance_sees_it():
    red = canvas([(1, 6, 1, 6)], colour=(200, 30, 35))
    navy = canvas([(1, 6, 1, 6)], colour=(25, 35, 110))
    group = np.stack([red, navy])
    assert diversity.pairwise_silhouette_distance(group) == 0.0
    assert diversity.pairwise_pixel_distance(group) > 0.1


def test_near_white_pixels_are_background():
    faint = canvas([(0, 8, 0, 8)], colour=(245, 245, 245))
    assert not diversity.garment_masks(faint[None]).any()
    assert diversity.garment_masks(canvas([(0, 2, 0, 2)])[None]).sum() == 4


def test_ratio_is_generated_over_real_per_measure():
    ratio = diversity.diversity_ratio(
        {"pixel": 0.1, "silhouette": 0.3}, {"pixel": 0.2, "silhouette": 0.3}
    )
    assert ratio == {"pixel": pytest.approx(0.5), "silhouette": pytest.approx(1.0)}
    assert np.isnan(diversity.diversity_ratio({"pixel": 0.1, "silhouette": 0.0},
                                              {"pixel": 0.0, "silhouette": 0.0})["pixel"])


def test_groups_of_one_image_are_refused():
    with pytest.raises(ValueError, match="at least 2 images"):
        diversity.group_diversity([canvas([])[None]])
    with pytest.raises(ValueError, match="at least one group"):
        diversity.group_diversity([])


def test_every_description_of_the_variety_metric_draws_its_own_seeds():
    seeds = evaluate_lib.variety_seeds(num_descriptions=3, num_seeds=4, seed=10)
    groups = np.reshape(seeds, (3, 4))
    np.testing.assert_array_equal(groups[0], [10, 11, 12, 13])
    assert len(set(seeds)) == 12
    assert seeds == evaluate_lib.variety_seeds(3, 4, 10)
