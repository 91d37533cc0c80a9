"""`python -m fashion_t2i.evaluate`: how well generated images match their captions.

The flags layer over `evaluate_lib` (which says what is measured). Writes
JSON (config, checkpoint, seeds, sample count) and TensorBoard scalars.
"""

import json
import os
import sys

from absl import app
from absl import flags

from fashion_t2i import evaluate_lib
from fashion_t2i.evaluate_lib import METRICS

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", "runs/demo", "Trained run.")
flags.DEFINE_string("data", None, "Validation HDF5 file (default: the run's validation data).")
flags.DEFINE_string("out", None, "Metrics JSON (default <workdir>/metrics.json).")
flags.DEFINE_integer(
    "num_images", 1000,
    "Validation captions to generate from. R-precision ranks among min(100, available) "
    "captions and names fewer than 100 r_precision_at_<K>.",
)
flags.DEFINE_integer("seed", 0, "Seed of the first image; image i uses seed + i.")
flags.DEFINE_list(
    "metrics", ["attributes", "r_precision", "variety", "edits"],
    f"Any of {METRICS} (attributes and edits need the embedded data's attribute ids).",
)
flags.DEFINE_enum("inception_source", "keras", ["keras", "hub"], "ImageNet classifier for IS/FID.")
flags.DEFINE_string("inception_weights", "imagenet", "Keras InceptionV3 weights: imagenet or a file.")
flags.DEFINE_string("inception_handle", None, "tensorflow_hub handle or local module directory.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    unknown = set(FLAGS.metrics) - set(METRICS)
    if unknown:
        raise app.UsageError(f"Unknown --metrics {sorted(unknown)}; choose from {list(METRICS)}.")
    if FLAGS.num_images < 2:
        raise app.UsageError("--num_images must be >= 2.")

    def inception():
        from fashion_t2i.metrics.inception_classifier import InceptionClassifier

        if FLAGS.inception_source == "hub":
            return InceptionClassifier(source="hub", handle=FLAGS.inception_handle)
        return InceptionClassifier(source="keras", weights=FLAGS.inception_weights)

    try:
        result = evaluate_lib.evaluate(
            FLAGS.workdir, FLAGS.data, FLAGS.num_images, FLAGS.seed, FLAGS.metrics, inception
        )
    except (FileNotFoundError, ValueError) as e:
        # Errors a user can cause (no trained run, missing data, too few examples).
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    out = FLAGS.out or os.path.join(FLAGS.workdir, "metrics.json")
    evaluate_lib.write_result(result, out, FLAGS.workdir)
    shown = ("generated", "real", "variety", "edit_consistency")
    print(json.dumps({key: result[key] for key in shown if key in result}, indent=2))
    if "held_out_words" in result:
        print(evaluate_lib.held_out_words_table(result["held_out_words"]))
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(app.run(main))
