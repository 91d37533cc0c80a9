"""`python -m fashion_t2i.generate`: images for captions from a trained workdir, as a PNG grid.

For each caption with words the model does not know, or with more words
than `max_words`, a line on stdout says which (`a zzqxv dress: unknown
words: zzqxv (drawn as [UNK])`, `words after the first 12 were not used: ...`).
"""

import os
import sys

import numpy as np
from absl import app
from absl import flags

FLAGS = flags.FLAGS


def define_flags():
    """Defines the command line in `absl.flags.FLAGS`.

    Called only when this module runs as the program, so that importing
    `word_notes` or `generate_grid` next to another tool adds no flags.
    """
    flags.DEFINE_string(
        "workdir", "runs/demo", "Trained run (config, vocabulary, gan checkpoints)."
    )
    flags.DEFINE_multi_string("text", None, "Caption; repeat the flag for several rows.")
    flags.DEFINE_integer("num_samples", 4, "Images per caption (one column per seed).")
    flags.DEFINE_integer("seed", 0, "Seed of the first column; column j uses seed + j.")
    flags.DEFINE_string("out", "samples.png", "Output PNG grid (rows: captions, columns: seeds).")
    flags.mark_flag_as_required("text")


def generate_grid(model, texts, num_samples, seed):
    """uint8 grid [len(texts) * H, num_samples * W, 3] of generated images."""
    from fashion_t2i import visualization
    import tensorflow as tf

    rows = []
    for text in texts:
        seeds = tf.constant([seed + j for j in range(num_samples)], tf.int64)
        images = model.generate(tf.constant([text] * num_samples), seeds)["images"].numpy()
        rows.append(images)
    return visualization.image_grid(np.stack(rows))


def word_notes(tokenizer, texts, read_as=None):
    """What the model makes of each text's words, for a person reading the output.

    Args:
        tokenizer: the model's `Tokenizer`.
        texts: captions (str).
        read_as: `{word no training caption used: the training word it reads
            as}` (`text.unseen_words.read_as` of the run), or None.

    Returns:
        One entry per text: a line naming its words that are not in the
        vocabulary (read as "[UNK]"), its words that no training caption used
        with the training word each reads as, and the words after the first
        `max_words`, which the model never sees; None if there are none.
    """
    import tensorflow as tf

    from fashion_t2i.text import vocabulary

    batch = tf.constant(texts)
    ids, _ = tokenizer(batch)
    tokens = tokenizer.detokenize(ids).numpy()
    words = tokenizer.typed_words(batch).numpy()
    all_words = tokenizer.all_words(batch).to_list()
    oov = vocabulary.OOV_TOKEN.encode()
    read_as = read_as or {}
    notes = []
    for text, text_tokens, text_words, text_all_words in zip(texts, tokens, words, all_words):
        unknown = [w.decode() for w, t in zip(text_words, text_tokens) if t == oov]
        distinct = [t.decode() for t in dict.fromkeys(text_tokens)]
        unseen = [f"{t} as {read_as[t]}" for t in distinct if t in read_as]
        cut = [w.decode() for w in text_all_words[tokenizer.max_words:]]
        parts = []
        if unknown:
            parts.append(f"unknown words: {', '.join(unknown)} (drawn as {vocabulary.OOV_TOKEN})")
        if unseen:
            parts.append(f"words no training caption used, read as: {', '.join(unseen)}")
        if cut:
            parts.append(
                f"words after the first {tokenizer.max_words} were not used: {', '.join(cut)}"
            )
        notes.append(f"{text}: {'; '.join(parts)}" if parts else None)
    return notes


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if FLAGS.num_samples < 1:
        raise app.UsageError("--num_samples must be >= 1")
    texts = [t.strip() for t in FLAGS.text]
    if not all(any(ch.isalnum() for ch in t) for t in texts):
        raise app.UsageError("Every --text must contain at least one letter or digit.")
    import tensorflow as tf

    from fashion_t2i.text import unseen_words
    from fashion_t2i.text_to_image import TextToImage

    model = TextToImage.from_workdir(FLAGS.workdir, max_batch=max(FLAGS.num_samples, 1))
    for note in word_notes(model.tokenizer, texts, unseen_words.read_as(FLAGS.workdir)):
        if note:
            print(note)
    grid = generate_grid(model, texts, FLAGS.num_samples, FLAGS.seed)
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
    tf.io.write_file(FLAGS.out, tf.io.encode_png(grid))
    print(f"wrote {FLAGS.out} ({len(texts)} captions x {FLAGS.num_samples} samples)")


if __name__ == "__main__":
    define_flags()
    sys.exit(app.run(main))
