"""How well generated images match their captions, with the real images as ceiling.

Generates one image per validation caption (seed = `seed` + index) with the
EMA generator and reports, for generated and real images side by side:
- `attributes`: class / colour / pattern accuracy from a classifier trained
  on real images (embedded data only), and a domain FID in its features;
- `r_precision`: AttnGAN R-precision with the run's DAMSM, top-1 of 100
  candidates; with fewer distinct products among the captions, top-1 of
  K = min(100, available) reported as `r_precision_at_<K>`;
- `inception`: Inception Score (10 splits) and FID from an ImageNet
  InceptionV3 (Keras weights or a TF-GAN-style module via tensorflow_hub).
  Never read IS alone: training against Inception features inflates it;
- `variety`: how different the designs of one description are over seeds,
  next to real products of the same content (`metrics.diversity`), with
  the attribute accuracy of those designs;
- `edits`: single-word edits of plain descriptions with the same seed
  (`metrics.edit_consistency`; embedded data only).

When the validation data marks captions written with held-out synonyms
(`held_out_words`, the embedded data), the attribute accuracies and
R-precisions are also reported per caption set under `caption_sets`
(`held_out` and `in_vocabulary`), each R-precision ranking among its own
set's captions, and for the held-out captions once more by the held-out
word they say, under `held_out_words` (the word's captions' hits in the
held-out set's candidate draw; in the JSON only, not in TensorBoard).

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
from fashion_t2i.data import attributes
from fashion_t2i.data.attributes import content_id
from fashion_t2i.metrics import diversity
from fashion_t2i.metrics.edit_consistency import edit_consistency
from fashion_t2i.metrics import r_precision as r_precision_lib
from fashion_t2i.progress import log
from fashion_t2i.run_context import RunContext
from fashion_t2i.text_to_image import TextToImage

METRICS = ("attributes", "r_precision", "inception", "variety", "edits")
R_PRECISION_CANDIDATES = 100
BATCH_SIZE = 64
# Variety: descriptions x seeds, real images of a description's content
# looked for among this many validation examples. Edits: (description,
# seed) pairs. Sized for the bars they are read against: with 60
# descriptions one generator's pixel ratio moved from 0.84 to 0.85 with the
# seeds and read 0.81 over 240, and with 200 pairs "class kept" moved from
# 0.83 to 0.90 (0.86 / 0.88 over 1000) (docs/RESULTS.md, "Variety and word
# edits"). Both cost seconds.
VARIETY_DESCRIPTIONS = 240
VARIETY_SEEDS = 8
VARIETY_POOL = 8000
EDIT_DESCRIPTIONS = 1000


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
    # Held-out synonyms: the captions the data marks as written with words no
    # training caption uses, next to the others (same metrics, same images).
    sets = evaluation.caption_sets(examples)
    # The held-out captions again, word by word (not logged as scalars).
    words = evaluation.held_out_word_rows(captions, sets["held_out"]) if sets else {}
    # Every group of captions scored apart: (its entry in the result, its rows).
    groups = []
    for section, named_rows in (("caption_sets", sets), ("held_out_words", words)):
        if named_rows:
            result[section] = {
                name: {"num_captions": len(rows), "generated": {}, "real": {}}
                for name, rows in named_rows.items()
            }
            groups += [(result[section][name], rows) for name, rows in named_rows.items()]
    # The attribute classifier (loaded once): needed by `attributes`, which
    # raises without attribute ids, and used by `variety` / `edits` when the
    # data has them.
    classifier = None
    has_attributes = (
        context.validation_reader.has_attributes and context.train_reader.has_attributes
    )
    if "attributes" in metrics or ({"variety", "edits"} & set(metrics) and has_attributes):
        classifier, accuracy = evaluation.attribute_classifier(
            workdir, context.train_reader, context.validation_reader, size,
            seed=config.data.seed, log_fn=log_fn,
        )
    if "attributes" in metrics:
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
        for entry, rows in groups:
            picked = {k: v[rows] for k, v in labels.items()}
            for side, images in (("generated", fake_unit), ("real", real_unit)):
                entry[side]["attribute_accuracy"] = (
                    evaluation.attribute_metrics(classifier, images[rows], picked)
                )
        # Captions that leave the pattern out (solid products, as shops write them).
        unnamed = np.array([not attributes.names_a_pattern(c) for c in captions])
        if unnamed.any():
            pattern = {"pattern": labels["pattern"][unnamed]}
            for side, images in (("generated", fake_unit), ("real", real_unit)):
                result[side]["pattern_accuracy_without_pattern_word"] = (
                    evaluation.attribute_metrics(classifier, images[unnamed], pattern)["pattern"]
                )
            result["num_without_pattern_word"] = int(unnamed.sum())
        result["generated"]["domain_fid"] = evaluation.domain_fid(classifier, real_unit, fake_unit)
    if "r_precision" in metrics:
        damsm = context.restore_damsm()
        sentences = evaluation.sentence_features(damsm, model.tokenizer, captions)
        ids = np.asarray(content_id(examples))
        candidates = r_precision_lib.fitting_candidates(ids, R_PRECISION_CANDIDATES)
        name = r_precision_lib.metric_name(candidates)
        if candidates < R_PRECISION_CANDIDATES:
            log_fn(f"eval: R-precision ranks among {candidates} captions, reported as {name}")
        for side, images in (("generated", fake), ("real", real)):
            features = evaluation.damsm_features(damsm, images, size, BATCH_SIZE)
            result[side][name] = r_precision_lib.r_precision_from_features(
                features, sentences, ids, candidates, seed=seed
            )
            hits_by_set = evaluation.r_precision_hits_by_set(
                features, sentences, ids, sets, seed=seed
            )
            for caption_set, (metric, hits) in hits_by_set.items():
                result["caption_sets"][caption_set][side][metric] = float(hits.mean())
            # A held-out word's R-precision: the mean hit of its captions in
            # the held-out set's own draw (the rows of `sets` are sorted).
            if words:
                metric, hits = hits_by_set["held_out"]
                for word, rows in words.items():
                    positions = np.searchsorted(sets["held_out"], rows)
                    result["held_out_words"][word][side][metric] = float(hits[positions].mean())
    if "inception" in metrics:
        result["generated"].update(evaluation.inception_metrics(inception(), real, fake))
    if "variety" in metrics:
        result["variety"] = variety(context, model, classifier, seed, log_fn=log_fn)
    if "edits" in metrics:
        if classifier is None:
            raise ValueError("The edits metric needs attribute ids (the embedded data).")
        result["edit_consistency"] = edits(context, model, classifier, seed)
    return result


def variety_seeds(num_descriptions, num_seeds, seed=0):
    """Seeds of `variety`: description i draws seeds seed + i * num_seeds + (0 .. num_seeds - 1).

    Every description has noises of its own. With the same `num_seeds`
    seeds for every description, the ratio rested on those few noises: one
    trained generator measured 0.57, 0.65 and 0.72 (pixel) under three seed
    offsets (docs/RESULTS.md, "Variety and word edits").
    """
    return [seed + i * num_seeds + j for i in range(num_descriptions) for j in range(num_seeds)]


def variety(context, model, classifier=None, seed=0, num_descriptions=VARIETY_DESCRIPTIONS,
            num_seeds=VARIETY_SEEDS, pool=VARIETY_POOL, log_fn=log):
    """Diversity of `num_seeds` designs per description, beside real images of its content.

    The descriptions are the first validation captions whose content (on the
    embedded data: class, colour and pattern; otherwise the product) has at
    least two images among the first `pool` validation examples; up to
    `num_seeds` of those images are the real group (the mean pairwise
    distance does not depend on the group size, only its noise does).

    Returns:
        {"generated": {measure: value}, "real": {...}, "diversity_ratio":
        {...}, "num_descriptions", "num_seeds", "real_per_description" (mean
        real group size), and with a classifier
        "attribute_accuracy" of the generated designs}.

    Raises:
        ValueError: no content has two real images.
    """
    size = context.config.model.stage_sizes[-1]
    reader = context.validation_reader
    examples = evaluation.read_examples(reader, min(pool, reader.num_examples))
    chosen, real_indices = evaluation.content_groups(examples, num_descriptions, num_seeds)
    captions = evaluation.decode_captions(examples)
    texts = [captions[i] for i in chosen for _ in range(num_seeds)]
    seeds = variety_seeds(len(chosen), num_seeds, seed)
    fake = evaluation.generate_images(model, texts, seeds, BATCH_SIZE, log_fn=log_fn)
    fake_groups = fake.reshape(len(chosen), num_seeds, *fake.shape[1:])
    real_groups = [evaluation.to_unit_range(examples["image"][r], size) for r in real_indices]
    generated = diversity.group_diversity(list(fake_groups))
    real = diversity.group_diversity(real_groups)
    result = {
        "generated": generated,
        "real": real,
        "diversity_ratio": diversity.diversity_ratio(generated, real),
        "num_descriptions": len(chosen),
        "num_seeds": num_seeds,
        "real_per_description": float(np.mean([len(g) for g in real_groups])),
    }
    if classifier is not None:
        labels = evaluation.attribute_labels(examples)
        repeated = {k: np.repeat(v[chosen], num_seeds) for k, v in labels.items()}
        result["attribute_accuracy"] = evaluation.attribute_metrics(
            classifier, evaluation.to_unit_range(fake, size), repeated
        )
    return result


def edits(context, model, classifier, seed=0, num_descriptions=EDIT_DESCRIPTIONS):
    """Edit consistency of single-word edits of the first validation descriptions.

    The descriptions are the plain captions (`attributes.plain_caption`) of
    the attribute ids of the first `num_descriptions` validation examples;
    description i is drawn with seed `seed + i`, before and after each edit.
    """
    size = context.config.model.stage_sizes[-1]
    reader = context.validation_reader
    labels = evaluation.attribute_labels(
        evaluation.read_examples(reader, min(num_descriptions, reader.num_examples))
    )
    seeds = list(range(seed, seed + len(labels["class"])))

    def generate(captions, seeds):
        return evaluation.to_unit_range(
            evaluation.generate_images(model, captions, seeds, BATCH_SIZE), size
        )

    return edit_consistency(
        generate,
        classifier.predict_attributes,
        attributes.plain_captions,
        labels,
        seeds,
        {name: count for name, (_, count) in attributes.ATTRIBUTE_HEADS.items()},
        rng=seed,
    )


def held_out_words_table(by_word):
    """`result["held_out_words"]` as a text table: a row per word, generated beside real.

    Columns are the attribute accuracies and R-precision each side has
    ("-" where a metric was not computed).
    """
    columns = []
    for word_values in by_word.values():
        for side in ("generated", "real"):
            names = list(word_values[side].get("attribute_accuracy", {}))
            names += [k for k in word_values[side] if k.startswith("r_precision")]
            columns += [(side, name) for name in names if (side, name) not in columns]

    def value(values, side, name):
        side_values = values[side]
        number = side_values.get("attribute_accuracy", {}).get(name, side_values.get(name))
        return "-" if number is None else f"{number:.3f}"

    header = ["held-out word", "captions"] + [f"{side} {name}" for side, name in columns]
    rows = [
        [word, str(values["num_captions"])] + [value(values, side, name) for side, name in columns]
        for word, values in by_word.items()
    ]
    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) if i == 0 else cell.rjust(width)
                  for i, (cell, width) in enumerate(zip(row, widths)))
        for row in [header] + rows
    )


def write_result(result, out, workdir):
    """Writes the result JSON to `out` and its scalars to `<workdir>/logs/eval`."""
    files.write_json(out, result)
    writer = tf.summary.create_file_writer(os.path.join(workdir, "logs", "eval"))
    with writer.as_default(step=result["step"]):
        for section in ("generated", "real", "caption_sets", "variety", "edit_consistency"):
            for tag, value in _scalars(result.get(section, {}), section):
                tf.summary.scalar(tag, value)
    writer.flush()


def _scalars(values, prefix):
    """(tag, number) of every number in a nested dict, tags joined by '/'."""
    for name, value in values.items():
        if isinstance(value, dict):
            yield from _scalars(value, f"{prefix}/{name}")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            yield f"{prefix}/{name}", value
