"""The attributes of the embedded data: names, caption words, ids.

Every embedded caption names a class and a colour, and the pattern unless
the product is solid; the builder stores their ids beside the images, so
evaluation can check generated images against the words without people.
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

# Caption vocabulary; the first word of every tuple is the canonical one
# (`plain_caption`, product names).
COLOUR_WORDS = (
    ("red", "scarlet", "cherry"),
    ("navy blue", "navy", "dark blue"),
    ("sky blue", "light blue", "baby blue"),
    ("green", "jade", "kelly green"),
    ("olive", "olive green", "army green"),
    ("yellow", "lemon", "sunflower"),
    ("orange", "tangerine", "apricot"),
    ("pink", "blush", "hot pink"),
    ("purple", "plum", "grape"),
    ("brown", "chocolate", "coffee"),
    ("grey", "gray", "ash"),
    ("black", "jet black", "coal black"),
    ("teal", "petrol", "dark cyan"),
)
CLASS_WORDS = (
    ("t-shirt", "tee", "top"),
    ("trousers", "pants", "slacks"),
    ("pullover", "sweater", "jumper"),
    ("dress", "frock"),
    ("coat", "jacket", "parka"),
    ("sandal", "strappy sandal"),
    ("shirt", "blouse", "button-down"),
    ("sneaker", "trainer", "kicks"),
    ("bag", "handbag", "tote"),
    ("ankle boot", "boot", "chelsea boot"),
)
# Nouns that are always plural: no article, "these ... are".
PLURAL_NOUNS = frozenset(("trousers", "pants", "slacks", "kicks", "slippers", "jeans"))
# Footwear, written in the plural about half of the time ("scarlet sneakers").
PLURAL_FORMS = {
    "sandal": "sandals",
    "strappy sandal": "strappy sandals",
    "sneaker": "sneakers",
    "trainer": "trainers",
    "ankle boot": "ankle boots",
    "boot": "boots",
    "chelsea boot": "chelsea boots",
}


def is_plural(noun):
    """Whether a caption's class noun is plural ("jeans", "sneakers")."""
    return noun in PLURAL_NOUNS or noun in PLURAL_FORMS.values()


def article(noun, next_word):
    """The indefinite article before `next_word` in "<article><next_word> ... <noun>".

    "" for a plural noun ("red jeans"), else "a " or "an " by the first
    letter of `next_word` ("an indigo dress").
    """
    if is_plural(noun):
        return ""
    return "an " if next_word[:1].lower() in "aeiou" else "a "


# Synonyms that no training caption uses: a marked part of the validation
# captions (`held_out_words`) says them instead, to measure whether a model
# understands words it never saw with an image. Aligned with `COLOUR_NAMES`
# and `CLASS_NAMES`; None where a class has no held-out word.
HELD_OUT_COLOUR_WORDS = (
    "crimson",
    "indigo",
    "azure",
    "emerald",
    "khaki",
    "mustard",
    "amber",
    "magenta",
    "violet",
    "chestnut",
    "charcoal",
    "ebony",
    "turquoise",
)
HELD_OUT_CLASS_WORDS = (
    None,
    "jeans",
    "cardigan",
    "gown",
    "blazer",
    "slippers",
    "tunic",
    None,
    "purse",
    None,
)
# Pattern words; "plain" and "solid" state a solid pattern so that it can be
# learnt, though half of the solid products are described without them.
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


def split_words(text):
    """Lower-case words of `text`, split on every character that is not a letter or digit."""
    return "".join(ch if ch.isalnum() else " " for ch in text.lower()).split()


# Every word of the held-out synonyms, split as the tokenizer splits.
HELD_OUT_WORDS = frozenset(
    word
    for phrase in HELD_OUT_COLOUR_WORDS + HELD_OUT_CLASS_WORDS
    if phrase is not None
    for word in split_words(phrase)
)

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
    return not PATTERN_WORDS.isdisjoint(split_words(caption))

