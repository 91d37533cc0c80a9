"""How well generated images match their captions, with the real images as ceiling.

Generates one image per validation caption (seed = `seed` + index) with the
EMA generator and reports, for generated and real images side by side:
- `attributes`: class / colour / pattern accuracy from a classifier trained
  on real images (embedded data only), and a domain FID in its features;
- `r_precision`: AttnGAN R-precision with the run's DAMSM;
- `inception`: Inception Score (10 splits) and FID from an ImageNet
  InceptionV3 (Keras weights or a TF-GAN-style module via tensorflow_hub).
  Never read IS alone: training against Inception features inflates it.

The run is opened read-only (`RunContext.open`); the only files written
are the result and the evaluation's own caches (`<workdir>/eval/`) and
TensorBoard events (`<workdir>/logs/eval/`).
"""

import os
import time

import numpy as np
import tensorflow as tf

from fashion_t2i import evaluation
from fashion_t2i import files
from fashion_t2i.data.attributes import content_id
from fashion_t2i.metrics.r_precision import r_precision_from_features
from fashion_t2i.progress import log
from fashion_t2i.run_context import RunContext
from fashion_t2i.text_to_image import TextToImage

METRICS = ("attributes", "r_precision", "inception")
R_PRECISION_CANDIDATES = 100
BATCH_SIZE = 64


def evaluate(workdir, data, num_images, seed, metrics, inception=None, log_fn=log):
    """Computes the metrics of a trained run; returns the JSON-ready result dict.

    Args:
        workdir: the trained run.
        data: a validation HDF5 file, or None for the run's own.
        num_images: validation captions generated from.
        seed: seed of the first image; image i uses `seed + i`.
        metrics: names from `METRICS`.
        inception: a callable returning an `InceptionClassifier` (needed for
            the `inception` metric only).

    Raises:
        ValueError: an unknown metric name, or too few validation examples.
        FileNotFoundError: `workdir` holds no trained run.
    """
    unknown = set(metrics) - set(METRICS)
    if unknown:
        raise ValueError(f"Unknown metrics {sorted(unknown)}; choose from {METRICS}.")
    context = RunContext.open(workdir, validation_path=data)
    config = context.config
    model = TextToImage.from_workdir(workdir, max_batch=BATCH_SIZE)
    size = config.model.stage_sizes[-1]
    examples = evaluation.read_examples(context.validation_reader, num_images)
    captions = evaluation.decode_captions(examples)
    seeds = list(range(seed, seed + num_images))
    start = time.time()
    fake = evaluation.generate_images(model, captions, seeds, BATCH_SIZE, log_fn=log_fn)
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
        classifier, accuracy = evaluation.attribute_classifier(
            workdir, context.train_reader, context.validation_reader, size,
            seed=config.data.seed, log_fn=log_fn,
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
        damsm = context.restore_damsm()
        token_ids, _ = model.tokenizer(tf.constant(captions))
        _, sentences = damsm.text_encoder(token_ids, training=False)
        ids = np.asarray(content_id(examples))
        for name, images in (("generated", fake), ("real", real)):
            features = np.concatenate(
                [
                    damsm.image_encoder(
                        evaluation.to_unit_range(images[i : i + BATCH_SIZE], size),
                        training=False,
                    )[1].numpy()
                    for i in range(0, len(images), BATCH_SIZE)
                ]
            )
            result[name]["r_precision"] = r_precision_from_features(
                features, sentences.numpy(), ids, R_PRECISION_CANDIDATES, seed=seed
            )
    if "inception" in metrics:
        result["generated"].update(evaluation.inception_metrics(inception(), real, fake))
    return result


def write_result(result, out, workdir):
    """Writes the result JSON to `out` and its scalars to `<workdir>/logs/eval`."""
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
