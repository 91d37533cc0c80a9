"""Which attributes of the caption do a trained run's discriminators check?

On the embedded data every caption names a class, a colour and a pattern.
For real validation images this scores each stage's conditional logit with
the image's own caption and with the same caption after one attribute was
changed to another value, and reports how often the own caption scores
higher. 0.5 means the discriminator ignores that attribute; the generator
only learns to draw what its discriminators check.

    python -m fashion_t2i.discriminator_check --workdir runs/demo
"""

import numpy as np
import tensorflow as tf
from absl import app
from absl import flags

from fashion_t2i import evaluation
from fashion_t2i import files
from fashion_t2i.data import attributes
from fashion_t2i.metrics.edit_consistency import swap_attribute
from fashion_t2i.progress import log
from fashion_t2i.run_context import RunContext

# The attributes every embedded caption names, in the evaluation's order.
ATTRIBUTES = tuple(attributes.ATTRIBUTE_HEADS)

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", "runs/demo", "Trained run (GAN checkpoint).")
flags.DEFINE_integer("num_images", 1000, "Real validation images scored.")
flags.DEFINE_integer("seed", 0, "Seed of the replacement attribute values.")
flags.DEFINE_string("out", None, "Also write the result as JSON here.")


def conditional_logits(gan, tokenizer, images, captions):
    """[stage][N] conditional logits of real images (one array per stage) with `captions`."""
    token_ids, _ = tokenizer(tf.constant(captions))
    _, sentence = gan.encode_text(token_ids)
    return [
        discriminator(tf.constant(x), sentence, training=False)[1].numpy()
        for discriminator, x in zip(gan.discriminators, images)
    ]


def check(gan, tokenizer, images, ids, seed=0):
    """Fraction of images whose own caption outscores the attribute-swapped one.

    Args:
        gan: a trained `AttnGAN`.
        tokenizer: the run's tokenizer.
        images: one [N, s, s, 3] array in [-1, 1] per stage size.
        ids: {"class", "colour", "pattern": [N] int ids of the images}.
        seed: seed of the replacement values.

    Returns:
        {"stage<k>": {attribute: fraction}}.
    """
    rng = np.random.default_rng(seed)
    own = conditional_logits(gan, tokenizer, images, attributes.plain_captions(ids))
    result = {f"stage{k + 1}": {} for k in range(len(own))}
    for attribute in ATTRIBUTES:
        swapped = conditional_logits(
            gan, tokenizer, images, attributes.plain_captions(
                swap_attribute(ids, attribute, attributes.ATTRIBUTE_HEADS[attribute][1], rng)
            )
        )
        for k, (mine, other) in enumerate(zip(own, swapped)):
            result[f"stage{k + 1}"][attribute] = float(np.mean(mine > other))
    return result


def run(workdir, num_images, seed=0):
    """The check on a trained run, opened read-only; returns the JSON-ready result."""
    context = RunContext.open(workdir)
    reader = context.validation_reader
    if not reader.has_attributes:
        raise ValueError(
            "The discriminator check needs class/colour/pattern ids, which only the "
            "embedded Fashion-MNIST data has."
        )
    gan, step = context.restore_gan()
    examples = evaluation.read_examples(reader, min(num_images, reader.num_examples))
    labels = evaluation.attribute_labels(examples)
    images = [evaluation.to_unit_range(examples["image"], s) for s in context.stage_sizes]
    return {"step": step, "num_images": len(images[0]),
            "own_caption_wins": check(gan, context.tokenizer, images, labels, seed)}


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    result = run(FLAGS.workdir, FLAGS.num_images, FLAGS.seed)
    log(f"discriminator check at step {result['step']} ({result['num_images']} real images): "
        "fraction whose own caption beats it with one attribute changed")
    for stage, values in result["own_caption_wins"].items():
        log(f"  {stage}: " + "  ".join(f"{k} {v:.3f}" for k, v in values.items()))
    if FLAGS.out:
        files.write_json(FLAGS.out, result)


if __name__ == "__main__":
    app.run(main)
