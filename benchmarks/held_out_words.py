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

Run:
    python -m benchmarks.held_out_words --workdir runs/demo [--seeds 4] [--words colour_sources]
"""

import collections
import sys

import numpy as np
from absl import app
from absl import flags

from benchmarks import print_report

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_string("workdir", "runs/demo", "A trained run (embedded data).")
    flags.DEFINE_integer("seeds", 4, "Seeds per caption.")
    flags.DEFINE_enum(
        "words", "held_out", ("held_out", "colour_sources"),
        "held_out: the held-out colour and class synonyms; colour_sources: the training "
        "words that name one colour, each alone.",
    )


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


def drawn(workdir, seeds, words="held_out"):
    """`{attribute: [(word, true value, predicted values [N])]}`.

    Both attributes for the held-out words; the colour for `"colour_sources"`.
    """
    from fashion_t2i import evaluation
    from fashion_t2i.run_context import RunContext
    from fashion_t2i.text import unseen_words
    from fashion_t2i.text_to_image import TextToImage

    context = RunContext.open(workdir)
    colour_words, kinds = None, ("colour", "class")
    if words == "colour_sources":
        _, sources = unseen_words.training_words(context.train_reader)
        if sources is None:
            raise ValueError(f"{workdir}: its training data has no colour ids.")
        colour_words = dict(sorted(sources.items(), key=lambda item: (item[1], item[0])))
        kinds = ("colour",)
    model = TextToImage.from_workdir(workdir, max_batch=64)
    size = context.config.model.stage_sizes[-1]
    classifier, _ = evaluation.attribute_classifier(
        workdir, context.train_reader, context.validation_reader, size,
        seed=context.config.data.seed, log_fn=lambda message: None,
    )
    result = {}
    for attribute in kinds:
        result[attribute] = []
        for word, value, texts in captions_of(attribute, colour_words):
            captions = [text for text in texts for _ in range(seeds)]
            images = evaluation.generate_images(
                model, captions, list(range(len(captions))), log_fn=lambda message: None
            )
            predictions = classifier.predict_attributes(evaluation.to_unit_range(images, size))
            result[attribute].append((word, value, np.asarray(predictions[attribute])))
    return result


def report(result):
    from fashion_t2i.data import attributes

    names = {"colour": attributes.COLOUR_NAMES, "class": attributes.CLASS_NAMES}
    lines = []
    for attribute, rows in result.items():
        hits = []
        lines.append(f"{attribute}: word (means) -> share drawn right, drawn most")
        for word, value, predicted in rows:
            right = float(np.mean(predicted == value))
            hits.append(right)
            most, count = collections.Counter(predicted.tolist()).most_common(1)[0]
            lines.append(
                f"  {word:10s} ({names[attribute][value]}) -> {right:.2f}, "
                f"{names[attribute][most]} {count / len(predicted):.2f}"
            )
        lines.append(f"  mean over words {np.mean(hits):.3f}")
    return "\n".join(lines)


def main(argv):
    del argv
    if FLAGS.seeds < 1:
        raise app.UsageError("--seeds must be >= 1.")
    return print_report(lambda: drawn(FLAGS.workdir, FLAGS.seeds, FLAGS.words), report)


if __name__ == "__main__":
    define_flags()
    sys.exit(app.run(main))
