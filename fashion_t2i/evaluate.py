"""`python -m fashion_t2i.evaluate`: how well generated images match their captions.

Generates one image per validation caption (seed = --seed + index) with the
EMA generator and reports, for generated and real images side by side:
- `attributes`: class / colour / pattern accuracy from a classifier trained
  on real images (embedded data only), and a domain FID in its features;
- `r_precision`: AttnGAN R-precision with the run's DAMSM;
- `inception`: Inception Score (10 splits) and FID from an ImageNet
  InceptionV3 (Keras weights or a TF-GAN-style module via tensorflow_hub).
  Never read IS alone: training against Inception features inflates it.
Writes JSON (config, checkpoint, seeds, sample count) and TensorBoard scalars.
"""

import json
import os
import sys
import time

from absl import app
from absl import flags

from fashion_t2i.training_loop import log

METRICS = ("attributes", "r_precision", "inception")

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", "runs/demo", "Trained run.")
flags.DEFINE_string("data", None, "Validation HDF5 file (default: the run's validation data).")
flags.DEFINE_string("out", None, "Metrics JSON (default <workdir>/metrics.json).")
flags.DEFINE_integer("num_images", 1000, "Validation captions to generate from.")
flags.DEFINE_integer("seed", 0, "Seed of the first image; image i uses seed + i.")
flags.DEFINE_list("metrics", ["attributes", "r_precision"], f"Any of {METRICS}.")
flags.DEFINE_enum("inception_source", "keras", ["keras", "hub"], "ImageNet classifier for IS/FID.")
flags.DEFINE_string("inception_weights", "imagenet", "Keras InceptionV3 weights: imagenet or a file.")
flags.DEFINE_string("inception_handle", None, "tensorflow_hub handle or local module directory.")


def evaluate(workdir, data, num_images, seed, metrics, inception=None, log_fn=log):
    """Computes the metrics; returns the JSON-ready result dict."""
    import numpy as np
    import tensorflow as tf

    from fashion_t2i import evaluation
    from fashion_t2i import train_lib
    from fashion_t2i.config import Config
    from fashion_t2i.data.fashion_gen_reader import FashionGenReader
    from fashion_t2i.data.attributes import content_id
    from fashion_t2i.text_to_image import TextToImage

    unknown = set(metrics) - set(METRICS)
    if unknown:
        raise ValueError(f"Unknown metrics {sorted(unknown)}; choose from {METRICS}.")
    config = Config.load(workdir)
    model = TextToImage.from_workdir(workdir, max_batch=64)
    size = config.model.stage_sizes[-1]
    validation = FashionGenReader.from_config(data or config.data.validation_path, config.data)
    examples = evaluation.read_examples(validation, num_images)
    captions = evaluation.decode_captions(examples)
    seeds = list(range(seed, seed + num_images))
    start = time.time()
    fake = evaluation.generate_images(model, captions, seeds, log_fn=log_fn)
    log_fn(f"eval: generated {len(fake)} images in {time.time() - start:.0f} s")
    real = (evaluation.to_unit_range(examples["image"], size) + 1.0) * 127.5
    real = np.round(real).astype(np.uint8)
    result = {
        "config": config.to_dict(),
        "checkpoint": model.checkpoint_path,
        "step": int(model.checkpoint_path.rsplit("-", 1)[-1]),
        "num_images": num_images,
        "seeds": [seed, seed + num_images - 1],
        "generated": {},
        "real": {},
    }
    if "attributes" in metrics:
        train = FashionGenReader.from_config(config.data.train_path, config.data)
        classifier, accuracy = evaluation.attribute_classifier(
            workdir, train, validation, size, seed=config.data.seed, log_fn=log_fn
        )
        labels = evaluation.attribute_labels(examples)
        fake_unit = evaluation.to_unit_range(fake, size)
        real_unit = evaluation.to_unit_range(real, size)
        result["generated"]["attribute_accuracy"] = evaluation.attribute_metrics(
            classifier, fake_unit, labels
        )
        result["real"]["attribute_accuracy"] = evaluation.attribute_metrics(
            classifier, real_unit, labels
        )
        result["real"]["classifier_validation_accuracy"] = accuracy
        result["generated"]["domain_fid"] = evaluation.domain_fid(classifier, real_unit, fake_unit)
    if "r_precision" in metrics:
        damsm = train_lib.restore_damsm(config, workdir, model.tokenizer)
        token_ids, _ = model.tokenizer(tf.constant(captions))
        _, sentences = damsm.text_encoder(token_ids, training=False)
        keys = np.asarray(content_id(examples))
        for name, images in (("generated", fake), ("real", real)):
            features = np.concatenate(
                [
                    damsm.image_encoder(
                        evaluation.to_unit_range(images[i : i + 64], size), training=False
                    )[1].numpy()
                    for i in range(0, len(images), 64)
                ]
            )
            result[name]["r_precision"] = train_lib.r_precision(
                features, sentences.numpy(), keys, seed=seed
            )
    if "inception" in metrics:
        result["generated"].update(
            evaluation.inception_metrics(inception(), real, fake)
        )
    return result


def write_result(result, out, workdir):
    import tensorflow as tf

    from fashion_t2i import files

    files.write_json(out, result)
    writer = tf.summary.create_file_writer(os.path.join(workdir, "logs", "eval"))
    with writer.as_default(step=result["step"]):
        for side in ("generated", "real"):
            for name, value in result[side].items():
                if isinstance(value, dict):
                    for key, v in value.items():
                        tf.summary.scalar(f"{side}/{name}/{key}", v)
                elif isinstance(value, (int, float)):
                    tf.summary.scalar(f"{side}/{name}", value)
    writer.flush()


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    unknown = set(FLAGS.metrics) - set(METRICS)
    if unknown:
        raise app.UsageError(f"Unknown --metrics {sorted(unknown)}; choose from {list(METRICS)}.")
    if FLAGS.num_images < 100 and "r_precision" in FLAGS.metrics:
        raise app.UsageError("R-precision ranks among 100 captions: --num_images must be >= 100.")

    def inception():
        from fashion_t2i.metrics.inception_classifier import InceptionClassifier

        if FLAGS.inception_source == "hub":
            return InceptionClassifier(source="hub", handle=FLAGS.inception_handle)
        return InceptionClassifier(source="keras", weights=FLAGS.inception_weights)

    result = evaluate(
        FLAGS.workdir, FLAGS.data, FLAGS.num_images, FLAGS.seed, FLAGS.metrics, inception
    )
    out = FLAGS.out or os.path.join(FLAGS.workdir, "metrics.json")
    write_result(result, out, FLAGS.workdir)
    print(json.dumps({"generated": result["generated"], "real": result["real"]}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(app.run(main))
