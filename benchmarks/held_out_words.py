"""What a trained run draws for each held-out synonym of the embedded data.

`make evaluate` reports one accuracy over the held-out captions; this shows
it word by word. For every held-out colour word, "a <word> <class>" for each
class (canonical class words) and `--seeds` seeds; for every held-out class
word, "a <colour> <word>" for each colour. The run's attribute classifier
(`evaluation.attribute_classifier`, trained once and cached in the run)
says which colour or class each image shows; the table gives the share
drawn right and the value drawn most.

With `--words=colour_sources` the colour rows are instead the training
words that a colour name may read as (`unseen_words.training_words`: the
words that name one colour in the training captions), each alone in
"a <word> <class>": how well each stands for its colour without the rest of
its phrase ("kelly" of "kelly green").

With `--words=held_out_captions` the rows are the held-out validation
captions themselves, as `make evaluate` draws them (the first
`--num_captions` validation rows, grouped by the held-out word they say:
`evaluation.held_out_word_rows`), each word's captions judged on the
attribute the word names; `--substitute=azure=sky blue` adds a row of the
same captions with the word replaced, to see what another reading of it
would draw.

Run:
    python -m benchmarks.held_out_words --workdir runs/demo [--seeds 4] \
        [--words colour_sources | --words held_out_captions [--substitute "azure=sky blue" ...]]
"""

import collections
import re
import sys

import numpy as np
from absl import app
from absl import flags

from benchmarks import print_report

FLAGS = flags.FLAGS
# Between a word and its replacement in the label of a substituted row.
SUBSTITUTED = " -> "


def define_flags():
    flags.DEFINE_string("workdir", "runs/demo", "A trained run (embedded data).")
    flags.DEFINE_integer("seeds", 4, "Seeds per caption.")
    flags.DEFINE_enum(
        "words", "held_out", ("held_out", "colour_sources", "held_out_captions"),
        "held_out: the held-out colour and class synonyms; colour_sources: the training "
        "words that name one colour, each alone; held_out_captions: the held-out "
        "validation captions, by word.",
    )
    flags.DEFINE_integer(
        "num_captions", 1000, "With held_out_captions: validation rows read (as make evaluate)."
    )
    flags.DEFINE_multi_string(
        "substitute", [],
        "With held_out_captions: 'word=replacement', a row of the word's captions with the "
        "word replaced (repeatable).",
    )


def parse_substitutes(entries):
    """`[(held-out word, replacement)]` of `--substitute` entries ("azure=sky blue").

    Raises:
        ValueError: an entry without "=", with an empty side, or whose word is
            not a held-out synonym.
    """
    from fashion_t2i.data import attributes

    known = {w for w in attributes.HELD_OUT_COLOUR_WORDS + attributes.HELD_OUT_CLASS_WORDS if w}
    pairs = []
    for entry in entries:
        word, _, replacement = entry.partition("=")
        word, replacement = word.strip().lower(), replacement.strip()
        if not word or not replacement:
            raise ValueError(f"--substitute={entry!r}: expected 'word=replacement'.")
        if word not in known:
            raise ValueError(
                f"--substitute={entry!r}: {word!r} is not a held-out synonym; choose from "
                f"{sorted(known)}."
            )
        pairs.append((word, replacement))
    return pairs


def validation_captions(captions, rows, substitutes=()):
    """`{attribute: [(label, true value, [captions])]}` of the held-out captions, by word.

    Args:
        captions: the validation captions (str), indexed by row.
        rows: the held-out rows among them (`evaluation.caption_sets`).
        substitutes: `[(word, replacement)]`: each adds a row labelled
            "word -> replacement" of the word's captions with the whole word
            replaced (any case).
    """
    from fashion_t2i import evaluation
    from fashion_t2i.data import attributes

    groups = evaluation.held_out_word_rows(captions, rows)
    result = {"colour": [], "class": []}
    for word, word_rows in groups.items():
        if word in attributes.HELD_OUT_COLOUR_WORDS:
            attribute, value = "colour", attributes.HELD_OUT_COLOUR_WORDS.index(word)
        else:
            attribute, value = "class", attributes.HELD_OUT_CLASS_WORDS.index(word)
        texts = [captions[row] for row in word_rows]
        result[attribute].append((word, value, texts))
        for substituted, replacement in substitutes:
            if substituted == word:
                pattern = re.compile(rf"\b{re.escape(word)}\b", re.IGNORECASE)
                result[attribute].append((
                    f"{word}{SUBSTITUTED}{replacement}", value,
                    [pattern.sub(replacement, text) for text in texts],
                ))
    return {attribute: rows for attribute, rows in result.items() if rows}


def captions_of(attribute, colour_words=None):
    """`[(word, true value, [captions])]` of `"colour"` or `"class"`.

    Args:
        colour_words: `{word: colour id}` of the colour rows, in their order;
            None: the held-out colour words.
    """
    from fashion_t2i.data import attributes

    rows = []
    if attribute == "colour":
        if colour_words is None:
            colour_words = {w: v for v, w in enumerate(attributes.HELD_OUT_COLOUR_WORDS)}
        for word, value in colour_words.items():
            texts = [
                f"{attributes.article(words[0], word)}{word} {words[0]}"
                for words in attributes.CLASS_WORDS
            ]
            rows.append((word, value, texts))
    else:
        for value, word in enumerate(attributes.HELD_OUT_CLASS_WORDS):
            if word is not None:
                texts = [
                    f"{attributes.article(word, words[0])}{words[0]} {word}"
                    for words in attributes.COLOUR_WORDS
                ]
                rows.append((word, value, texts))
    return rows


def drawn(workdir, seeds, words="held_out", num_captions=1000, substitutes=()):
    """`{attribute: [(word, true value, predicted values [N])]}`.

    Both attributes for the held-out words and captions; the colour for
    `"colour_sources"`.
    """
    from fashion_t2i import evaluation
    from fashion_t2i.run_context import RunContext
    from fashion_t2i.text import unseen_words
    from fashion_t2i.text_to_image import TextToImage

    context = RunContext.open(workdir)
    # {attribute: [(word, true value, [captions])]}
    if words == "held_out_captions":
        examples = evaluation.read_examples(context.validation_reader, num_captions)
        sets = evaluation.caption_sets(examples)
        if not sets:
            raise ValueError(f"{workdir}: its validation data marks no held-out captions.")
        rows_by_attribute = validation_captions(
            evaluation.decode_captions(examples), sets["held_out"], substitutes
        )
    elif words == "colour_sources":
        _, sources = unseen_words.training_words(context.train_reader)
        if sources is None:
            raise ValueError(f"{workdir}: its training data has no colour ids.")
        colour_words = dict(sorted(sources.items(), key=lambda item: (item[1], item[0])))
        rows_by_attribute = {"colour": captions_of("colour", colour_words)}
    else:
        rows_by_attribute = {attribute: captions_of(attribute) for attribute in ("colour", "class")}
    model = TextToImage.from_workdir(workdir, max_batch=64)
    size = context.config.model.stage_sizes[-1]
    classifier, _ = evaluation.attribute_classifier(
        workdir, context.train_reader, context.validation_reader, size,
        seed=context.config.data.seed, log_fn=lambda message: None,
    )
    result = {}
    for attribute, rows in rows_by_attribute.items():
        result[attribute] = []
        for word, value, texts in rows:
            captions = [text for text in texts for _ in range(seeds)]
            images = evaluation.generate_images(
                model, captions, list(range(len(captions))), log_fn=lambda message: None
            )
            predictions = classifier.predict_attributes(evaluation.to_unit_range(images, size))
            result[attribute].append((word, value, np.asarray(predictions[attribute])))
    return result


def report(result):
    """The table of `drawn`; the mean is over the words, substituted rows left out."""
    from fashion_t2i.data import attributes

    names = {"colour": attributes.COLOUR_NAMES, "class": attributes.CLASS_NAMES}
    lines = []
    for attribute, rows in result.items():
        hits = []
        lines.append(f"{attribute}: word (means) -> share drawn right, drawn most")
        for word, value, predicted in rows:
            right = float(np.mean(predicted == value))
            if SUBSTITUTED not in word:
                hits.append(right)
            most, count = collections.Counter(predicted.tolist()).most_common(1)[0]
            lines.append(
                f"  {word:10s} ({names[attribute][value]}) -> {right:.2f} of {len(predicted)}, "
                f"{names[attribute][most]} {count / len(predicted):.2f}"
            )
        lines.append(f"  mean over words {np.mean(hits):.3f}")
    return "\n".join(lines)


def main(argv):
    del argv
    if FLAGS.seeds < 1:
        raise app.UsageError("--seeds must be >= 1.")
    if FLAGS.num_captions < 2:
        raise app.UsageError("--num_captions must be >= 2.")
    if FLAGS.substitute and FLAGS.words != "held_out_captions":
        raise app.UsageError("--substitute needs --words=held_out_captions.")
    try:
        substitutes = parse_substitutes(FLAGS.substitute)
    except ValueError as e:
        raise app.UsageError(str(e)) from e
    return print_report(
        lambda: drawn(FLAGS.workdir, FLAGS.seeds, FLAGS.words, FLAGS.num_captions, substitutes),
        report,
    )


if __name__ == "__main__":
    define_flags()
    sys.exit(app.run(main))
