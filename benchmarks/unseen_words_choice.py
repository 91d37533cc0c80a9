"""Leave-one-out choice of how `text.unseen_words` fills words no caption used.

Each single-word training synonym of a colour or a class of the embedded
data is treated in turn as unseen: it is filled from the other training
words, exactly as `fill_embeddings` fills unseen words, and scored by the
share of its filled embedding that comes from synonyms of its own value
(a mean of a trouser, a sneaker and a shirt word is drawn as none of them).
Filling one-hot rows of the words' values instead of embeddings gives that
share directly, so no trained network is needed: only the run's vocabulary,
its training captions and the vectors.

Run:
    python -m benchmarks.unseen_words_choice --workdir runs/demo
"""

import sys

import numpy as np
from absl import app
from absl import flags

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_string("workdir", "runs/demo", "A run on the embedded data.")
    flags.DEFINE_bool(
        "one_colour_sources", True,
        "Colour names read only as training words that name one colour (as the DAMSM "
        "phase fills them); --noone_colour_sources: as any training colour name.",
    )
    flags.DEFINE_bool(
        "word_senses", False,
        "Colour and garment words read first as the training words their WordNet senses "
        "name (unseen_words=vectors_colours_and_senses).",
    )
    flags.DEFINE_bool(
        "image_colours", False,
        "Colour names compared with the colour of the training images each colour source "
        "names, not with its colour in the table (unseen_words=vectors_colours_senses_and_images; "
        "needs --one_colour_sources).",
    )

# (neighbours, temperature) of the vectors and (neighbours, scale) of the colours.
SETTINGS = (
    (1, 0.05, 1, 10.0),
    (3, 0.05, 3, 5.0),
    (10, 0.05, 3, 10.0),
    (10, 0.1, 5, 10.0),
)


def class_groups():
    """`attributes.CLASS_WORDS` with the plural forms the captions also write ("sneakers")."""
    from fashion_t2i.data import attributes

    return tuple(
        words + tuple(attributes.PLURAL_FORMS[w] for w in words if w in attributes.PLURAL_FORMS)
        for words in attributes.CLASS_WORDS
    )


def single_word_values(groups):
    """`{word: value}` of the one-word synonyms that name one value only."""
    from fashion_t2i.data import attributes

    values = {}
    for value, phrases in enumerate(groups):
        for phrase in phrases:
            for word in attributes.split_words(phrase):
                values.setdefault(word, set()).add(value)
    return {word: next(iter(v)) for word, v in values.items() if len(v) == 1}


def right_share(
    tokens, vectors, seen, values, num_values, colours, setting, words=None, colour_sources=None,
    senses=None, source_colours=None,
):
    """Mean share of the right value in the leave-one-out fillings of `values`' words.

    Args:
        words: the words to leave out (default: those of `values` in `seen`).
        colour_sources: the seen words colour names may read as (None: all),
            as `fill_embeddings` takes them; the word left out is never one.
        senses: `word_senses.read_word_senses()` or None, as `fill_embeddings` takes it.
        source_colours: `{seen word: CIELAB}` or None, as `fill_embeddings` takes it.
    """
    from fashion_t2i.text import unseen_words

    neighbours, temperature, colour_neighbours, colour_scale = setting
    one_hot = np.zeros((len(tokens), num_values))
    for i, token in enumerate(tokens):
        if token in values:
            one_hot[i, values[token]] = 1.0
    position = {token: i for i, token in enumerate(tokens)}
    words = [w for w in values if w in seen and w in position] if words is None else words
    shares = []
    for word in words:
        kept = [position[word]] + [i for i, t in enumerate(tokens) if t in seen and t != word]
        ids, rows, _ = unseen_words.fill_embeddings(
            one_hot[kept], vectors[kept], [tokens[i] for i in kept], seen - {word}, colours,
            neighbours=neighbours, temperature=temperature,
            colour_neighbours=colour_neighbours, colour_scale=colour_scale,
            colour_sources=colour_sources, senses=senses, source_colours=source_colours,
        )
        assert ids[0] == 0
        shares.append(rows[0, values[word]])
    return float(np.mean(shares)), len(shares)


def run(workdir, one_colour_sources=True, use_senses=False, use_images=False):
    """`[(setting, {"class": share, "colour": share})]` for every setting of `SETTINGS`.

    Args:
        one_colour_sources: colour names read only as training words that
            name one colour (`unseen_words.one_colour_words`), as the DAMSM
            phase fills them; False: as any training colour name.
        use_senses: read colour and garment words as the training words
            their WordNet senses name first (`text.word_senses`).
        use_images: compare colour names with the colour of the training
            images each colour source names (`unseen_words.image_colours`).

    Raises:
        ValueError: `use_images` without `one_colour_sources`.
    """
    from fashion_t2i.data import attributes
    from fashion_t2i.run_context import RunContext
    from fashion_t2i.text import colour_names
    from fashion_t2i.text import unseen_words
    from fashion_t2i.text import word_senses
    from fashion_t2i.text import word_vectors

    if use_images and not one_colour_sources:
        raise ValueError("--image_colours needs --one_colour_sources (the colour id of each source).")
    context = RunContext.open(workdir)
    tokens = context.tokenizer.tokens
    seen, colour_sources = unseen_words.training_words(context.train_reader, one_colour_sources)
    vectors = word_vectors.load_word_vectors(
        context.config.model.word_vectors_path, tokens, context.config.model.word_vectors_dim
    )
    colours = colour_names.read_colour_names()
    senses = word_senses.read_word_senses() if use_senses else None
    source_colours = None
    if use_images and colour_sources is not None:
        source_colours = unseen_words.image_colours(context.train_reader, colour_sources)
    results = []
    for setting in SETTINGS:
        shares = {
            "class": right_share(
                tokens, vectors, seen, single_word_values(class_groups()),
                len(attributes.CLASS_WORDS), colours, setting, senses=senses,
            ),
            "colour": right_share(
                tokens, vectors, seen, single_word_values(attributes.COLOUR_WORDS),
                len(attributes.COLOUR_WORDS), colours, setting,
                colour_sources=colour_sources, senses=senses, source_colours=source_colours,
            ),
        }
        results.append((setting, shares))
    return results


def main(argv):
    del argv
    try:
        results = run(
            FLAGS.workdir, FLAGS.one_colour_sources, FLAGS.word_senses, FLAGS.image_colours
        )
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print("vectors (neighbours, temperature), colours (neighbours, scale): share of the right "
          "value, left-one-out training synonyms")
    for (k, tau, kc, scale), shares in results:
        print(
            f"  ({k:2d}, {tau:.2f}), ({kc}, {scale:4.1f}): class {shares['class'][0]:.3f} "
            f"of {shares['class'][1]} words, colour {shares['colour'][0]:.3f} "
            f"of {shares['colour'][1]} words"
        )
    return 0


if __name__ == "__main__":
    define_flags()
    sys.exit(app.run(main))
