"""How different the designs of one description are (numpy only).

For a group of K images of one description, two measures over the K(K-1)/2
pairs:

- pixel distance: the root mean square difference of the two images, with
  values in [0, 1] (0 for identical images, 1 for black against white);
- silhouette distance: 1 - IoU of the two garment masks, a mask holding the
  pixels that are not background white. It sees a different shape, not a
  different texture or blur.

Each is reported for generated images and for real images that share the
description's content (on the embedded data: class, colour and pattern),
and `diversity_ratio` = generated / real: 1 means the generator varies its
designs as much as the real products of that description vary.
"""

import itertools

import numpy as np

MEASURES = ("pixel", "silhouette")
# A pixel belongs to the garment when its mean distance from white exceeds this.
GARMENT_THRESHOLD = 0.1


def to_unit(images):
    """uint8 [0, 255] or float [-1, 1] images as float64 in [0, 1]."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images.astype(np.float64) / 255.0
    return (images.astype(np.float64) + 1.0) / 2.0


def garment_masks(images, threshold=GARMENT_THRESHOLD):
    """[K, H, W] bool: pixels whose mean distance from white exceeds `threshold`."""
    return (1.0 - to_unit(images)).mean(axis=-1) > threshold


def pairwise_pixel_distance(images):
    """Mean over pairs of the RMS difference of two images, in [0, 1].

    Args:
        images: [K, H, W, C], uint8 or float in [-1, 1]; K >= 2.
    """
    x = to_unit(images)
    _check_group(x)
    return float(
        np.mean([np.sqrt(np.mean((a - b) ** 2)) for a, b in itertools.combinations(x, 2)])
    )


def pairwise_silhouette_distance(images, threshold=GARMENT_THRESHOLD):
    """Mean over pairs of 1 - IoU of the two garment masks, in [0, 1].

    Two empty masks (no garment in either image) count as the same
    silhouette (distance 0).
    """
    masks = garment_masks(images, threshold)
    _check_group(masks)
    distances = []
    for a, b in itertools.combinations(masks, 2):
        union = np.logical_or(a, b).sum()
        iou = 1.0 if union == 0 else np.logical_and(a, b).sum() / union
        distances.append(1.0 - iou)
    return float(np.mean(distances))


def group_diversity(groups):
    """Mean of each measure over groups of images of one description each.

    Args:
        groups: a list of [K, H, W, C] arrays (K >= 2, K may differ by group).

    Returns:
        {"pixel": float, "silhouette": float}.

    Raises:
        ValueError: no group, or a group of fewer than 2 images.
    """
    if not len(groups):
        raise ValueError("group_diversity needs at least one group of images.")
    return {
        "pixel": float(np.mean([pairwise_pixel_distance(g) for g in groups])),
        "silhouette": float(np.mean([pairwise_silhouette_distance(g) for g in groups])),
    }


def diversity_ratio(generated, real):
    """generated / real per measure (dicts from `group_diversity`); NaN where real is 0."""
    return {
        name: float(generated[name] / real[name]) if real[name] > 0 else float("nan")
        for name in MEASURES
    }


def _check_group(x):
    if len(x) < 2:
        raise ValueError(f"A group needs at least 2 images to compare, got {len(x)}.")
