"""How localised word-over-region attention maps are (DAMSM, `damsm_attention`).

Two numbers per (image, word) map, averaged over the words of a batch:

- `normalized_entropy`: the map's entropy over its N regions divided by
  log N: 1 for a uniform map, 0 for all weight on one region.
- `product_mass`: the attention weight on the regions the product covers,
  beside `product_area`, the fraction of regions it covers (what a uniform
  map puts there);
- `peak_on_product`: the fraction of maps whose most attended region is a
  product region, also beside `product_area` (its chance level). Unlike the
  two others it does not depend on how peaked the maps are: near-uniform
  maps (AttnGAN's word-then-region softmax gives them) can still point at
  the product. A region belongs to the product when at least half of its
  pixels are not background white (`diversity.garment_masks`).
"""

import numpy as np
import tensorflow as tf

from fashion_t2i.metrics.diversity import garment_masks


def region_masks(images, grid):
    """[B, h, w] bool: regions of an h x w grid at least half covered by the product.

    Args:
        images: [B, H, W, 3] in [-1, 1] (or uint8).
        grid: `(h, w)`; a region's cover is the area average of the product
            mask over it (regions need not align with pixels).
    """
    masks = garment_masks(images).astype(np.float32)[..., None]
    cover = tf.image.resize(masks, grid, method="area").numpy()[..., 0]
    return cover >= 0.5


def attention_localisation(attention, lengths, masks):
    """Entropy and product mass of word attention maps.

    Args:
        attention: [B, T, h, w] non-negative maps, each summing to 1 over its
            regions (padding words included, ignored through `lengths`).
        lengths: [B] number of real words of each caption.
        masks: [B, h, w] bool product regions (`region_masks`).

    Returns:
        dict with `normalized_entropy`, `product_mass`, `peak_on_product`
        and `product_area` (means over the real words; `product_area` weighs
        each image by its word count, as the others do).

    Raises:
        ValueError: shapes disagree, a map does not sum to 1, or no caption
            has a word.
    """
    attention = np.asarray(attention, np.float64)
    masks = np.asarray(masks, bool)
    lengths = np.asarray(lengths)
    b, t, h, w = attention.shape
    if masks.shape != (b, h, w) or lengths.shape != (b,):
        raise ValueError(
            f"attention {attention.shape}, lengths {lengths.shape} and masks {masks.shape} "
            "disagree."
        )
    regions = h * w
    flat = attention.reshape(b, t, regions)
    real = np.arange(t)[None, :] < lengths[:, None]  # [B, T]
    if not real.any():
        raise ValueError("No caption has a word.")
    if not np.allclose(flat[real].sum(-1), 1.0, atol=1e-4):
        raise ValueError("Each word's attention map must sum to 1 over its regions.")
    maps = flat[real]  # [W, N]
    entropy = -np.sum(np.where(maps > 0, maps * np.log(np.maximum(maps, 1e-30)), 0.0), -1)
    product = np.broadcast_to(masks.reshape(b, 1, regions), (b, t, regions))[real]
    return {
        "normalized_entropy": float(np.mean(entropy / np.log(regions))) if regions > 1 else 0.0,
        "product_mass": float(np.mean(np.sum(maps * product, -1))),
        "peak_on_product": float(np.mean(product[np.arange(len(maps)), maps.argmax(-1)])),
        "product_area": float(np.mean(product.mean(-1))),
    }
