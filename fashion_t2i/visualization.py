"""Image grids and attention overlays for TensorBoard and PNG output."""

import numpy as np
import tensorflow as tf


def to_uint8(images):
    """[-1, 1] floats to uint8 (numpy)."""
    images = np.asarray(images, dtype=np.float32)
    return np.clip(np.round((images + 1.0) * 127.5), 0, 255).astype(np.uint8)


def image_grid(rows):
    """Tiles [R, C, H, W, 3] uint8 images into one [R*H, C*W, 3] image."""
    rows = np.asarray(rows)
    r, c, h, w, ch = rows.shape
    return rows.transpose(0, 2, 1, 3, 4).reshape(r * h, c * w, ch)


def attention_overlays(images, attention, num_words):
    """Shows where each word looks: one heat-map overlay per word.

    Args:
        images: [B, H, W, 3] floats in [-1, 1].
        attention: [B, T, h, w] non-negative weights (each word's map).
        num_words: maps shown per image (the first words).

    Returns:
        uint8 [B, 1 + num_words, H, W, 3]: the image, then the overlays.
    """
    images = np.asarray(images, dtype=np.float32)
    b, height, width, _ = images.shape
    maps = np.asarray(attention, dtype=np.float32)[:, :num_words]
    t = maps.shape[1]
    peak = maps.reshape(b, t, -1).max(axis=-1)[..., None, None]
    maps = maps / np.maximum(peak, 1e-8)
    maps = tf.image.resize(maps.reshape(b * t, *maps.shape[2:], 1), [height, width], "bilinear")
    maps = maps.numpy().reshape(b, t, height, width, 1)
    grey = images.mean(axis=-1, keepdims=True)[:, None]
    heat = np.concatenate([maps, np.zeros_like(maps), 1.0 - maps], axis=-1) * 2.0 - 1.0
    overlays = 0.5 * grey + 0.5 * heat
    out = np.concatenate([images[:, None], overlays], axis=1)
    if t < num_words:
        pad = -np.ones((b, num_words - t, height, width, 3), np.float32)
        out = np.concatenate([out, pad], axis=1)
    return to_uint8(out)
