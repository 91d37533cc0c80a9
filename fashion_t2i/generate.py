"""`python -m fashion_t2i.generate`: images for captions from a trained workdir, as a PNG grid."""

import os
import sys

import numpy as np
from absl import app
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", "runs/demo", "Trained run (config, vocabulary, gan checkpoints).")
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


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if FLAGS.num_samples < 1:
        raise app.UsageError("--num_samples must be >= 1")
    texts = [t.strip() for t in FLAGS.text]
    if not all(any(ch.isalnum() for ch in t) for t in texts):
        raise app.UsageError("Every --text must contain at least one letter or digit.")
    import tensorflow as tf

    from fashion_t2i.text_to_image import TextToImage

    model = TextToImage.from_workdir(FLAGS.workdir, max_batch=max(FLAGS.num_samples, 1))
    grid = generate_grid(model, texts, FLAGS.num_samples, FLAGS.seed)
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
    tf.io.write_file(FLAGS.out, tf.io.encode_png(grid))
    print(f"wrote {FLAGS.out} ({len(texts)} captions x {FLAGS.num_samples} samples)")


if __name__ == "__main__":
    sys.exit(app.run(main))
