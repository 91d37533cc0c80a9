"""Embeddings for the vocabulary's words that no training caption used.

With `embedding_mode="table_and_projected"` the vocabulary holds the
training captions' words and the most frequent words of the pretrained
vectors. A word of the second kind never reaches the trained table (its row
keeps its random start) and the trained map of its vector was only ever
asked to add to the table's rows, so the encoder reads it as noise. After the
DAMSM has trained, `fill_unseen_words` gives each such word the embedding of
the training words closest to it:

- in the pretrained vectors: the softmax-weighted mean (`temperature` on
  the cosine) of the embeddings of its `neighbours` nearest training words
  (an unseen garment word reads as the garment its vector is nearest);
- with `colours`, a colour name (`colour_names`) instead reads as the
  training colour names nearest to its colour in CIELAB, weighted by
  `exp(-(d - d_min) / colour_scale)` over the `colour_neighbours` nearest:
  the vectors barely separate colour names, the colour table does. The
  training words it reads from are those that name one colour in the
  training captions (`one_colour_words`): on the embedded data "blue" (of
  "navy blue" and "sky blue"), "dark" (of "dark blue" and "dark cyan") and
  "white" (of "white dots") carry no colour of their own, and "violet"
  read as "blue" was drawn sky blue;
- with `senses` (`word_senses`), a colour or garment word reads first as the
  training word that a synonym of its WordNet senses is or ends in ("ebony"
  as "black" of "jet black", "blazer" as "jacket" of "sport jacket"), before
  the colour table; then, if the colour table does not know it, as the
  training word its nearest hypernym names ("jeans" as "trousers"). Colour
  senses read only as the colour sources. Left-one-out over the training
  synonyms (below) scores it 0.625 of the class and 0.514 of the colour
  words against 0.375 and 0.486 without; hypernyms before the colour table
  score the same, so the table keeps its place;
- with `source_colours` (`image_colours`), a colour name is compared with the
  colour of the training images each source names rather than with the
  source's colour in the table: the table puts "coffee" at #a6814c, so khaki
  read as coffee and was drawn brown; on the embedded data's images khaki is
  nearest the olive products. The sources stay the names the table knows:
  alone, "kelly" (of "kelly green") is drawn green 0.17 of the time, "jade"
  1.00. Left-one-out: colour 0.514 -> 0.600 with the senses (0.714 with
  every one-colour word a source, which read "emerald" as "kelly").

By default both take the single nearest word. That was chosen by
leave-one-out over the training synonyms of the embedded data (each filled
from the other training words), scoring the share of the filled embedding
that comes from synonyms of the right value: a mean of a trouser, a sneaker
and a shirt word is drawn as none of them (`benchmarks.unseen_words_choice`).
Nearest word: 0.38 of 32 class and 0.49 of 35 colour words (0.46 with
every training colour name a source); ten neighbours at temperature 0.05
and three colours at scale 10: 0.27 and 0.43.
`docs/RESULTS.md` ("Words no caption used") has the measurements.
"""

import json
import os

import numpy as np
from keras import ops

from fashion_t2i.text import colour_names
from fashion_t2i.text import vocabulary
from fashion_t2i.text import word_senses

NEIGHBOURS = 1
TEMPERATURE = 0.05
COLOUR_NEIGHBOURS = 1
COLOUR_SCALE = 10.0
# Share of a training word's captions that must describe one colour for the
# word to be a source of colour names (`one_colour_words`).
ONE_COLOUR_SHARE = 0.9
# Training rows whose images measure the colour of each colour id
# (`image_colours`), and the CIELAB distance from white beyond which a pixel
# is the product's rather than the background's.
COLOUR_ROWS = 5000
PRODUCT_DISTANCE = 25.0
# Images are subsampled to about this many pixels a side to be measured.
COLOUR_SIDE = 32
# Tokens that are not words: never a neighbour, never filled.
SPECIAL_TOKENS = ("[PAD]", "[UNK]")
# What each filled word reads as, written into a run by its DAMSM phase and
# shown by `generate`.
READ_AS_FILENAME = "unseen_words.json"
# Unseen words scored against every seen word at a time (bounds the memory
# of the [U, S] cosines with a large caption vocabulary).
CHUNK = 1024
# Largest difference between a word's embedding and its fill at which the
# word counts as filled (float32 rounding of table + map).
FILLED_ATOL = 1e-5


def softmax_neighbours(scores, count, sharpness, tie_break=None):
    """Indices [U, k] and weights [U, k] of the `count` highest `scores` [U, S] per row.

    The weights are a softmax of the chosen scores times `sharpness`; they
    sum to 1 per row. `count` is capped at S. Equal scores go in order of
    the lower `tie_break` [U, S] first, or of their index without it.
    """
    scores = np.asarray(scores, dtype=np.float64)
    count = min(count, scores.shape[1])
    if tie_break is None:
        top = np.argsort(-scores, axis=1, kind="stable")[:, :count]
    else:
        top = np.lexsort((np.asarray(tie_break, dtype=np.float64), -scores), axis=1)[:, :count]
    chosen = np.take_along_axis(scores, top, axis=1) * sharpness
    weights = np.exp(chosen - chosen.max(axis=1, keepdims=True))
    return top, weights / weights.sum(axis=1, keepdims=True)


def one_colour_words(captions, colour_ids, min_share=ONE_COLOUR_SHARE):
    """The words of `captions` that name one colour: the sources of colour names.

    A word qualifies when at least `min_share` of the captions that use it
    describe products of one colour id.

    Args:
        captions: iterable of caption strings.
        colour_ids: the colour id of each caption's product (same order).
        min_share: in (0, 1].

    Returns:
        A set of words, normalised and split as the vocabulary's
        (`vocabulary.caption_words`).

    Raises:
        ValueError: `min_share` outside (0, 1], or a different number of
            captions and colour ids.
    """
    captions = list(captions)
    if len(captions) != len(colour_ids):
        raise ValueError(f"{len(colour_ids)} colour ids for {len(captions)} captions.")
    return set(_one_colour(vocabulary.caption_words(captions), colour_ids, min_share))


def _one_colour(caption_words, colour_ids, min_share):
    """`{word: the colour id it names}` of `one_colour_words` over captions split into words."""
    if not 0.0 < min_share <= 1.0:
        raise ValueError(f"min_share must be in (0, 1], got {min_share}.")
    counts = {}
    for words, colour in zip(caption_words, colour_ids):
        for word in set(words):
            per_colour = counts.setdefault(word, {})
            per_colour[int(colour)] = per_colour.get(int(colour), 0) + 1
    named = {}
    for word, per_colour in counts.items():
        colour, count = max(per_colour.items(), key=lambda item: (item[1], -item[0]))
        if count >= min_share * sum(per_colour.values()):
            named[word] = colour
    return named


def training_words(reader, one_colour_sources=True):
    """`(seen words, colour sources)` of a reader's training captions, split once.

    Args:
        reader: a `FashionGenReader` (anything with `captions()`,
            `has_attributes` and `attribute_ids(name)`).
        one_colour_sources: colour names read only as the words that name one
            colour in these captions (`one_colour_words`).

    Returns:
        The set of words the captions use and `{colour source: the colour id
        it names}`, or None (every seen colour name) without
        `one_colour_sources` or without attribute ids in the data.
    """
    caption_words = list(vocabulary.caption_words(reader.captions()))
    seen = {word for words in caption_words for word in words}
    sources = None
    if one_colour_sources and reader.has_attributes:
        colour_ids = reader.attribute_ids("colour_id")
        if len(caption_words) != len(colour_ids):
            raise ValueError(
                f"{len(colour_ids)} colour ids for {len(caption_words)} captions."
            )
        sources = _one_colour(caption_words, colour_ids, ONE_COLOUR_SHARE)
    return seen, sources


def colour_id_colours(images, colour_ids, num_colours, product_distance=PRODUCT_DISTANCE):
    """CIELAB [num_colours, 3] of each colour id: the median of its products' pixels.

    A pixel is the product's when it lies farther than `product_distance`
    from white in CIELAB (the images are products on white); the median,
    channel by channel, over every such pixel of the id's images.

    Args:
        images: uint8 [N, H, W, 3] sRGB.
        colour_ids: [N] ints in [0, num_colours).

    Returns:
        float64 [num_colours, 3]; NaN rows for ids without a product pixel.
    """
    images = np.asarray(images)
    colour_ids = np.asarray(colour_ids)
    white = colour_names.srgb_to_lab([255, 255, 255])
    out = np.full((num_colours, 3), np.nan)
    for colour in range(num_colours):
        # One id's pixels at a time: float64 CIELAB is 8 times the uint8 images.
        pixels = colour_names.srgb_to_lab(images[colour_ids == colour].reshape(-1, 3))
        pixels = pixels[np.linalg.norm(pixels - white, axis=1) > product_distance]
        if len(pixels):
            out[colour] = np.median(pixels, axis=0)
    return out


def image_colours(reader, sources, max_rows=COLOUR_ROWS):
    """`{colour source: CIELAB}`: the colour of the training images each source names.

    Measured on the first `max_rows` usable rows of `reader`
    (`colour_id_colours`, each image subsampled to about `COLOUR_SIDE`
    pixels a side), so that a colour name reads as the training word whose
    products have its colour, whatever the table says of the word: on the
    embedded data "khaki" (#aaa662 in the table, nearest the table's
    "coffee") is nearest the olive products, which the captions call olive.

    Args:
        reader: a `FashionGenReader` with attribute ids.
        sources: `{colour source: colour id}` (`training_words`).

    Returns:
        `{word: CIELAB [3]}` of the sources whose colour id has images there.
    """
    rows = reader.valid_rows[:max_rows]
    images, colour_ids = [], []
    for start in range(0, len(rows), reader.block_size):
        block = reader.read_rows(rows[start : start + reader.block_size])
        step = max(1, block["image"].shape[1] // COLOUR_SIDE)
        images.append(block["image"][:, ::step, ::step])
        colour_ids.append(block["colour_id"])
    num_colours = max(sources.values(), default=-1) + 1
    lab = colour_id_colours(np.concatenate(images), np.concatenate(colour_ids), num_colours)
    return {
        word: lab[colour] for word, colour in sources.items() if not np.isnan(lab[colour, 0])
    }


def fill_embeddings(
    embeddings,
    vectors,
    tokens,
    seen_words,
    colours=None,
    colour_sources=None,
    neighbours=NEIGHBOURS,
    temperature=TEMPERATURE,
    colour_neighbours=COLOUR_NEIGHBOURS,
    colour_scale=COLOUR_SCALE,
    senses=None,
    source_colours=None,
):
    """Embeddings of the unseen words, from those of the seen words (pure numpy).

    Args:
        embeddings: [V, E] the encoder's embedding of every token.
        vectors: [V, d] the pretrained vector of every token.
        tokens: the V tokens.
        seen_words: the words of the training captions.
        colours: `{colour name: CIELAB}` or None (see the module docstring).
        colour_sources: the seen words a colour name may read as (e.g.
            `one_colour_words`); None: every seen word that `colours` names.
            Also the seen words a colour sense of `senses` may name.
        senses: `word_senses.read_word_senses()` or None (see the module docstring).
        source_colours: `{seen word: CIELAB}` (`image_colours`) or None: the
            colour a colour name is compared with is the seen word's there,
            not its colour in `colours`; a seen word it leaves out, or that
            `colours` does not name ("kelly" of "kelly green"), is no colour
            source. Of equally near sources (one colour of the images) the
            one `colours` places nearest the name comes first.

    Returns:
        `(ids, rows, sources)`: the unseen tokens' ids [U], their embeddings
        [U, E] and the id of the seen token each takes most of its row from
        [U], in id order. Special tokens are neither seen nor filled.

    Raises:
        ValueError: no token of `tokens` is a seen word.
    """
    embeddings = np.asarray(embeddings, dtype=np.float64)
    vectors = np.asarray(vectors, dtype=np.float64)
    seen_words = set(seen_words)
    special = set(SPECIAL_TOKENS)
    seen = np.array([i for i, t in enumerate(tokens) if t in seen_words and t not in special])
    unseen = np.array(
        [i for i, t in enumerate(tokens) if t not in seen_words and t not in special], dtype=int
    )
    if not len(seen):
        raise ValueError("No token of the vocabulary is a word of the training captions.")
    rows = np.zeros((len(unseen), embeddings.shape[1]))
    sources = np.zeros(len(unseen), dtype=int)
    if not len(unseen):
        return unseen, rows, sources
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.maximum(norms, 1e-12)
    seen_unit, seen_embeddings = unit[seen].T, embeddings[seen]
    for start in range(0, len(unseen), CHUNK):
        block = unseen[start : start + CHUNK]
        top, weights = softmax_neighbours(unit[block] @ seen_unit, neighbours, 1.0 / temperature)
        rows[start : start + len(block)] = np.einsum("uk,uke->ue", weights, seen_embeddings[top])
        heaviest = np.take_along_axis(top, np.argmax(weights, axis=1)[:, None], axis=1)[:, 0]
        sources[start : start + len(block)] = seen[heaviest]
    colour_allowed = seen_words if colour_sources is None else set(colour_sources)
    if colours:
        named = np.array(
            [
                i for i in seen
                if tokens[i] in colours and tokens[i] in colour_allowed
                and (source_colours is None or tokens[i] in source_colours)
            ],
            dtype=int,
        )
        if len(named):
            named_table = np.stack([colours[tokens[i]] for i in named])
            named_lab = named_table
            if source_colours is not None:
                named_lab = np.stack([source_colours[tokens[i]] for i in named])
            for row, i in enumerate(unseen):
                if tokens[i] in colours:
                    lab = colours[tokens[i]]
                    # Equally near sources (names of one colour of the images):
                    # the one the table places nearest first.
                    top, weights = softmax_neighbours(
                        -np.linalg.norm(named_lab - lab, axis=1)[None], colour_neighbours,
                        1.0 / colour_scale,
                        tie_break=np.linalg.norm(named_table - lab, axis=1)[None],
                    )
                    rows[row] = weights[0] @ embeddings[named[top[0]]]
                    sources[row] = named[top[0][np.argmax(weights[0])]]
    if senses:
        position = {tokens[i]: i for i in seen}
        allowed = {"colour": set(position) & colour_allowed, "garment": set(position)}
        for row, i in enumerate(unseen):
            own, up = word_senses.sources_of(tokens[i], senses, allowed)
            # A synonym is read before the colour table, a hypernym after it.
            source = own or (None if colours and tokens[i] in colours else up)
            if source:
                rows[row] = embeddings[position[source]]
                sources[row] = position[source]
    return unseen, rows, sources


def fill_unseen_words(
    text_encoder, tokens, seen_words, use_colours=True, colour_sources=None, use_senses=False,
    source_colours=None,
):
    """Gives the unseen words of `text_encoder` the embeddings of `fill_embeddings`.

    Writes the trained table's rows of those words so that the encoder's
    embedding of each is its filled row; the rows of seen words, the vectors
    and the map are not changed. Idempotent: the filled rows depend on the
    seen words' embeddings only, and rows already within `FILLED_ATOL` of
    their fill are left as they are.

    Args:
        text_encoder: a built `TextEncoder` with `word_table`.
        tokens: its vocabulary (list of strings).
        seen_words: the words of the training captions.
        use_colours: fill colour names from `colour_names` (see the module).
        colour_sources: the seen words colour names may read as (None: all).
        use_senses: read colour and garment words as the training words their
            WordNet senses name (`word_senses`).
        source_colours: `{seen word: CIELAB}` to compare colour names with
            (`image_colours`), or None: the seen words' colours in the table.

    Returns:
        `(read_as, changed)`: `{unseen word: the seen word its row comes most
        from}` of every word filled, and whether the table was written.

    Raises:
        ValueError: the encoder has no word table, or `tokens` is not its vocabulary.
    """
    if text_encoder.table is None:
        raise ValueError(
            "Filling unseen words needs embedding_mode='table_and_projected' (a word table)."
        )
    if len(tokens) != text_encoder.vocabulary_size:
        raise ValueError(
            f"{len(tokens)} tokens for a text encoder of {text_encoder.vocabulary_size}."
        )
    all_ids = ops.arange(len(tokens))[None]
    embeddings = ops.convert_to_numpy(ops.cast(text_encoder.embed(all_ids)[0], "float32"))
    vectors = ops.convert_to_numpy(ops.cast(text_encoder.embedding.embeddings, "float32"))
    colours = colour_names.read_colour_names() if use_colours else None
    senses = word_senses.read_word_senses() if use_senses else None
    ids, rows, sources = fill_embeddings(
        embeddings, vectors, tokens, seen_words, colours, colour_sources, senses=senses,
        source_colours=source_colours,
    )
    changed = not np.allclose(embeddings[ids], rows, rtol=0.0, atol=FILLED_ATOL)
    if changed:
        table = ops.convert_to_numpy(ops.cast(text_encoder.table.embeddings, "float32"))
        # The table row is what the map of the vector does not already give.
        table[ids] += rows - embeddings[ids]
        text_encoder.table.embeddings.assign(table.astype(text_encoder.table.embeddings.dtype))
    return {tokens[i]: tokens[j] for i, j in zip(ids, sources)}, changed


def read_as(workdir):
    """`{unseen word: the training word it reads as}` of a run; `{}` if it fills none."""
    path = os.path.join(workdir, READ_AS_FILENAME)
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)["read_as"]
