"""The attributes of the embedded data: names, caption words, ids.

Every embedded caption names a class, a colour and a pattern; the builder
stores their ids beside the images, so evaluation can check generated
images against the words without people.
"""

import tensorflow as tf

CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
# Fashion-Gen style `input_category` per class.
CATEGORY_NAMES = (
    "TOPS",
    "PANTS",
    "SWEATERS",
    "DRESSES",
    "JACKETS & COATS",
    "SANDALS",
    "SHIRTS",
    "SNEAKERS",
    "BAGS",
    "BOOTS",
)
COLOUR_NAMES = (
    "red",
    "navy blue",
    "sky blue",
    "green",
    "olive",
    "yellow",
    "orange",
    "pink",
    "purple",
    "brown",
    "grey",
    "black",
    "teal",
)
# sRGB of each colour; none is close to the white background.
COLOUR_RGB = (
    (200, 30, 35),
    (25, 35, 110),
    (95, 165, 230),
    (30, 140, 55),
    (120, 120, 30),
    (240, 205, 30),
    (245, 130, 20),
    (235, 115, 170),
    (120, 45, 150),
    (120, 70, 30),
    (128, 128, 128),
    (25, 25, 25),
    (0, 128, 128),
)
PATTERN_NAMES = ("solid", "striped", "dotted", "checked")

# Caption vocabulary. Nouns in `PLURAL_NOUNS` take no article and "are".
CLASS_WORDS = (
    ("t-shirt", "tee", "top"),
    ("trousers", "pants"),
    ("pullover", "sweater", "jumper"),
    ("dress",),
    ("coat", "jacket"),
    ("sandal",),
    ("shirt", "blouse"),
    ("sneaker", "trainer"),
    ("bag", "handbag"),
    ("ankle boot", "boot"),
)
PLURAL_NOUNS = frozenset(("trousers", "pants"))
# Every pattern is stated in every caption (solid too), so it can be learnt.
PATTERN_ADJECTIVES = (
    ("plain", "solid"),
    ("striped",),
    ("dotted", "polka-dot", "spotted"),
    ("checked", "checkered"),
)
PATTERN_PHRASES = (
    ("with no pattern", "in a solid colour"),
    ("with stripes", "with light stripes"),
    ("with dots", "with polka dots", "with white dots"),
    ("with checks", "with a check pattern"),
)
# Words that name a pattern in the captions (`names_a_pattern`).
PATTERN_WORDS = frozenset(
    word
    for phrases in PATTERN_ADJECTIVES + PATTERN_PHRASES
    for phrase in phrases
    for word in phrase.replace("-", " ").split()
) - {"with", "in", "a", "light", "white", "colour", "no"}

# attribute -> (dataset key of its ids, number of values)
ATTRIBUTE_HEADS = {
    "class": ("class_id", len(CLASS_NAMES)),
    "colour": ("colour_id", len(COLOUR_NAMES)),
    "pattern": ("pattern_id", len(PATTERN_NAMES)),
}


def content_id(example):
    """Ids equal exactly for examples that show the same thing.

    The product id, or with attribute ids the (class, colour, pattern)
    combination, packed in 20 bits each so combinations never collide.
    Works on a dict of tensors or of numpy arrays.
    """
    if "class_id" not in example:
        return example["product_id"]
    class_id, colour_id, pattern_id = (
        tf.cast(example[key], tf.int64) for key in ("class_id", "colour_id", "pattern_id")
    )
    return class_id * 2**40 + colour_id * 2**20 + pattern_id


def plain_caption(class_id, colour_id, pattern_id):
    """The caption of an attribute triple in one fixed wording, e.g. "a red striped t-shirt".

    First synonym of the class and the pattern, no template draw: captions
    that differ in one attribute differ in that attribute's words only (and
    in the article that agrees with them: "a" / "an", none for trousers).
    """
    noun = CLASS_WORDS[class_id][0]
    colour = COLOUR_NAMES[colour_id]
    article = "" if noun in PLURAL_NOUNS else ("an " if colour[0] in "aeiou" else "a ")
    return f"{article}{colour} {PATTERN_ADJECTIVES[pattern_id][0]} {noun}"


def plain_captions(ids):
    """`plain_caption` of every row of `ids` ({"class", "colour", "pattern": [N] ints})."""
    return [
        plain_caption(int(c), int(o), int(p))
        for c, o, p in zip(ids["class"], ids["colour"], ids["pattern"])
    ]


def names_a_pattern(caption):
    """Whether a caption says which pattern it shows (any of `PATTERN_WORDS`)."""
    words = "".join(ch if ch.isalnum() else " " for ch in caption.lower()).split()
    return not PATTERN_WORDS.isdisjoint(words)
