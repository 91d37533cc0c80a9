"""Attribute accuracy of generated images under a second, independent judge.

`make evaluate` judges generated images with one attribute classifier per
run, trained on the first 12 000 training images. A generator trained to
satisfy a classifier of its own (the discriminators' class head,
`--auxiliary_classes`) could learn features that any classifier trained on
the same images reads as the class without drawing it. This trains a second
judge on other training images (rows `offset` .. `offset + num_train`), with
another seed and more epochs, and reports each run's accuracies under both
judges beside the real images of the same captions: a gain that holds under
both is not the run's own judge being fooled.

Run:
    python -m benchmarks.independent_judge --workdir runs/demo --workdir <another run>
"""

import sys

from absl import app
from absl import flags

from benchmarks import print_report

FLAGS = flags.FLAGS

# The run's own judge trains on the first `evaluation.attribute_classifier`
# rows (12 000); the independent one starts after them.
OWN_JUDGE_ROWS = 12_000


def define_flags():
    flags.DEFINE_multi_string("workdir", ["runs/demo"], "Trained runs on the embedded data.")
    flags.DEFINE_integer("num_images", 1000, "Validation captions generated from (seeds 0..N-1).")
    flags.DEFINE_integer("offset", 30_000, "First training row of the independent judge.")
    flags.DEFINE_integer("num_train", 12_000, "Training images of the independent judge.")
    flags.DEFINE_integer("epochs", 6, "Epochs of the independent judge.")
    flags.DEFINE_integer("seed", 7, "Seed of the independent judge.")


def check_rows(offset, num_train):
    """Raises ValueError unless the judge's rows are after the run's own judge's."""
    if num_train < 1:
        raise ValueError(f"num_train must be >= 1, got {num_train}.")
    if offset < OWN_JUDGE_ROWS:
        raise ValueError(
            f"offset {offset} overlaps the {OWN_JUDGE_ROWS} training images of the runs' own "
            "judges; use an offset of at least that."
        )


def run(workdirs, num_images=1000, offset=30_000, num_train=12_000, epochs=6, seed=7):
    """`{"judge": real validation accuracy, "real": {judge: acc}, "runs": {workdir: {judge: acc}}}`.

    The independent judge is trained on the first run's data; every run is
    read with the same captions and seeds.
    """
    from fashion_t2i import evaluation
    from fashion_t2i.data.attributes import ATTRIBUTE_HEADS
    from fashion_t2i.metrics import attribute_classifier as attribute_lib
    from fashion_t2i.run_context import RunContext
    from fashion_t2i.text_to_image import TextToImage

    check_rows(offset, num_train)
    context = RunContext.open(workdirs[0])
    size = context.config.model.stage_sizes[-1]
    train = evaluation.read_examples(context.train_reader, num_train, offset=offset)
    validation = evaluation.read_examples(context.validation_reader, 2000)
    judge, judge_accuracy = attribute_lib.train_attribute_classifier(
        evaluation.to_unit_range(train["image"], size), evaluation.attribute_labels(train),
        evaluation.to_unit_range(validation["image"], size),
        evaluation.attribute_labels(validation),
        epochs=epochs, heads={name: count for name, (_, count) in ATTRIBUTE_HEADS.items()},
        seed=seed,
    )
    examples = evaluation.read_examples(context.validation_reader, num_images)
    captions = evaluation.decode_captions(examples)
    labels = evaluation.attribute_labels(examples)
    real = evaluation.to_unit_range(examples["image"], size)

    def accuracy(classifier, images):
        return {k: float(v) for k, v in classifier.attribute_accuracy(images, labels).items()}

    result = {
        "judge": {k: float(v) for k, v in judge_accuracy.items()},
        "real": {"independent": accuracy(judge, real)},
        "runs": {},
    }
    for workdir in workdirs:
        run_context = RunContext.open(workdir)
        own, _ = evaluation.attribute_classifier(
            workdir, run_context.train_reader, run_context.validation_reader, size,
            seed=run_context.config.data.seed, log_fn=lambda message: None,
        )
        model = TextToImage.from_workdir(workdir, max_batch=64)
        fake = evaluation.to_unit_range(
            evaluation.generate_images(
                model, captions, list(range(num_images)), log_fn=lambda message: None
            ),
            size,
        )
        result["runs"][workdir] = {"own": accuracy(own, fake), "independent": accuracy(judge, fake)}
        if "own" not in result["real"]:
            # The first run's judge on the real images (setdefault would
            # classify them again for every run and drop the result).
            result["real"]["own"] = accuracy(own, real)
    return result


def report(result):
    lines = [
        "attribute accuracy of generated images: the run's own judge / the independent judge",
        f"independent judge on real validation images: {_format(result['judge'])}",
        f"real images of the captions: own {_format(result['real'].get('own', {}))}, "
        f"independent {_format(result['real']['independent'])}",
    ]
    for workdir, judges in result["runs"].items():
        own, independent = judges["own"], judges["independent"]
        lines.append(
            f"  {workdir}: class {own['class']:.3f} / {independent['class']:.3f}, colour "
            f"{own['colour']:.3f} / {independent['colour']:.3f}, pattern "
            f"{own['pattern']:.3f} / {independent['pattern']:.3f}"
        )
    return "\n".join(lines)


def _format(accuracy):
    return ", ".join(f"{name} {value:.3f}" for name, value in sorted(accuracy.items()))


def main(argv):
    del argv
    if FLAGS.num_images < 1 or FLAGS.epochs < 1:
        raise app.UsageError("--num_images and --epochs must be >= 1.")
    try:
        check_rows(FLAGS.offset, FLAGS.num_train)
    except ValueError as e:
        raise app.UsageError(str(e))
    # No trained run, data without attribute ids, too few rows after --offset: one line.
    return print_report(
        lambda: run(
            FLAGS.workdir, FLAGS.num_images, FLAGS.offset, FLAGS.num_train, FLAGS.epochs,
            FLAGS.seed,
        ),
        report,
    )


if __name__ == "__main__":
    define_flags()
    sys.exit(app.run(main))
