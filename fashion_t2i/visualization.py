"""Image grids and attention overlays for TensorBoard and PNG output."""

import numpy as np
import tensorflow as tf
from PIL import Image
from PIL import ImageDraw

# Height in pixels of the strip under an attention map that names its word
# (PIL's default bitmap font is 11 px tall).
LABEL_HEIGHT = 14
_LABEL_BACKGROUND = (255, 255, 255)
_LABEL_INK = (0, 0, 0)


def to_uint8(images):
    """[-1, 1] floats to uint8 (numpy)."""
    images = np.asarray(images, dtype=np.float32)
    return np.clip(np.round((images + 1.0) * 127.5), 0, 255).astype(np.uint8)


def image_grid(rows):
    """Tiles [R, C, H, W, 3] uint8 images into one [R*H, C*W, 3] image."""
    rows = np.asarray(rows)
    r, c, h, w, ch = rows.shape
    return rows.transpose(0, 2, 1, 3, 4).reshape(r * h, c * w, ch)


def label_strip(text, width, height=LABEL_HEIGHT):
    """A white uint8 [height, width, 3] strip with `text` in black, cut to fit.

    Drawn with PIL's default font; the text starts at the left edge, and what
    does not fit in `width` is cut off.
    """
    strip = Image.new("RGB", (width, height), _LABEL_BACKGROUND)
    if text:
        ImageDraw.Draw(strip).text((1, 1), text, fill=_LABEL_INK)
    return np.asarray(strip, dtype=np.uint8)


def attention_overlays(images, attention, num_words, words=None):
    """Shows where each word looks: one heat-map overlay per word.

    Args:
        images: [B, H, W, 3] floats in [-1, 1].
        attention: [B, T, h, w] non-negative weights (each word's map),
            each drawn stretched from its least to its most attended region
            (a uniform map is drawn all blue).
        num_words: maps shown per image (the first words).
        words: optional [B][T] word strings (padding ""); each overlay then
            gets a `LABEL_HEIGHT` strip under it naming its word (the image's
            own strip stays blank).

    Returns:
        uint8 [B, 1 + num_words, H (+ LABEL_HEIGHT with words), W, 3]: the
        image, then the overlays.
    """
    images = np.asarray(images, dtype=np.float32)
    b, height, width, _ = images.shape
    maps = np.asarray(attention, dtype=np.float32)[:, :num_words]
    t = maps.shape[1]
    # Each map stretched to [0, 1] (AttnGAN's display): the softmax over
    # regions can be close to uniform and still point somewhere.
    low = maps.reshape(b, t, -1).min(axis=-1)[..., None, None]
    high = maps.reshape(b, t, -1).max(axis=-1)[..., None, None]
    maps = (maps - low) / np.maximum(high - low, 1e-8)
    maps = tf.image.resize(maps.reshape(b * t, *maps.shape[2:], 1), [height, width], "bilinear")
    maps = maps.numpy().reshape(b, t, height, width, 1)
    grey = images.mean(axis=-1, keepdims=True)[:, None]
    heat = np.concatenate([maps, np.zeros_like(maps), 1.0 - maps], axis=-1) * 2.0 - 1.0
    overlays = 0.5 * grey + 0.5 * heat
    out = np.concatenate([images[:, None], overlays], axis=1)
    if t < num_words:
        pad = -np.ones((b, num_words - t, height, width, 3), np.float32)
        out = np.concatenate([out, pad], axis=1)
    out = to_uint8(out)
    if words is None:
        return out
    strips = np.stack(
        [
            np.stack([label_strip(word, width) for word in [""] + _padded(row, num_words)])
            for row in words
        ]
    )
    return np.concatenate([out, strips], axis=2)


def _padded(words, length):
    """The first `length` of `words` as str, padded with "" (bytes are decoded)."""
    words = [w.decode("utf-8", "replace") if isinstance(w, bytes) else str(w) for w in list(words)[:length]]
    return words + [""] * (length - len(words))
