"""Colour names and where their colours lie, for words no caption used.

Word vectors learnt from running text barely separate colour names (GloVe's
nearest neighbours of "indigo" are other dye and plant words, not "navy"),
yet a colour name says exactly which colour it is. `colour_names.tsv` holds
the one-word names of the xkcd colour survey (public domain) and the CSS
colour keywords, each with its sRGB; `unseen_words` uses their CIELAB
distances to give a colour name that no training caption used the meaning
of the training colour names closest to it.
"""

import functools
import os

import numpy as np

DEFAULT_PATH = os.path.join(os.path.dirname(__file__), "colour_names.tsv")


def srgb_to_lab(rgb):
    """CIELAB (D65 white) of sRGB colours: `rgb` [..., 3] in 0-255 -> [..., 3] float64."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    linear = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    to_xyz = np.array(
        [
            [0.4124564, 0.3575761, 0.1804375],
            [0.2126729, 0.7151522, 0.0721750],
            [0.0193339, 0.1191920, 0.9503041],
        ]
    )
    xyz = linear @ to_xyz.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16.0 / 116.0)
    return np.stack(
        [116.0 * f[..., 1] - 16.0, 500.0 * (f[..., 0] - f[..., 1]), 200.0 * (f[..., 1] - f[..., 2])],
        axis=-1,
    )


@functools.lru_cache(maxsize=4)
def read_colour_names(path=DEFAULT_PATH):
    """`{name: CIELAB [3]}` of a file of `name<TAB>#rrggbb` lines (`#` lines are comments).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a line that is not a lower-case name and a `#rrggbb` colour.
    """
    names = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split("\t")
            colour = parts[-1]
            try:
                if len(parts) != 2 or not parts[0] or len(colour) != 7 or colour[0] != "#":
                    raise ValueError
                rgb = [int(colour[k : k + 2], 16) for k in (1, 3, 5)]
            except ValueError:
                raise ValueError(
                    f"{path}:{number}: expected 'name<TAB>#rrggbb', got {line!r}."
                ) from None
            names[parts[0].lower()] = srgb_to_lab(rgb)
    return names
