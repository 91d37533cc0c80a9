"""`python -m export --workdir runs/demo --base_dir runs/demo/export --model_name fashion_t2i`."""

import sys

from absl import app
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", "runs/demo", "Trained run to export (its latest GAN checkpoint).")
flags.DEFINE_string("base_dir", None, "Serving base directory (default <workdir>/export).")
flags.DEFINE_string("model_name", None, "Model directory name (default: the config's).")
flags.DEFINE_integer("version", None, "Version number (default: the next free one).")
flags.DEFINE_integer("max_batch", None, "Largest accepted batch (default: the config's).")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if FLAGS.version is not None and FLAGS.version < 1:
        raise app.UsageError("--version must be a positive integer (TF Serving's versions).")
    import os

    from export import export_lib
    from export import op_check
    from fashion_t2i.text_to_image import TextToImage

    model = TextToImage.from_workdir(FLAGS.workdir, max_batch=FLAGS.max_batch)
    base_dir = FLAGS.base_dir or os.path.join(FLAGS.workdir, "export")
    name = FLAGS.model_name or model.config.export.model_name
    path = export_lib.export_saved_model(model, base_dir, name, FLAGS.version)
    unsupported = op_check.unsupported_ops(path)
    if unsupported:
        print(f"warning: ops TF Serving lacks: {sorted(unsupported)}", file=sys.stderr)
    print(f"exported {model.checkpoint_path} to {path}")


if __name__ == "__main__":
    sys.exit(app.run(main))
