"""Evaluation of a trained run: text-image agreement and image quality, with ceilings.

Every metric is computed on generated images and on the real validation
images of the same captions, so each number has its ceiling beside it.
"""

import json
import os
import time

import numpy as np
import tensorflow as tf

from fashion_t2i import files
from fashion_t2i.data import attributes
from fashion_t2i.data import schema
from fashion_t2i.data.attributes import ATTRIBUTE_HEADS
from fashion_t2i.data.attributes import content_id
from fashion_t2i.metrics import attribute_classifier as attribute_lib
from fashion_t2i.metrics import frechet_distance
from fashion_t2i.metrics import inception_score
from fashion_t2i.metrics import r_precision as r_precision_lib
from fashion_t2i.progress import log

CLASSIFIER_FILENAME = "attribute_classifier.keras"
CLASSIFIER_INFO_FILENAME = "attribute_classifier.json"


def to_unit_range(images, size):
    """uint8 or [-1, 1] images resized (area) to `size`, as float32 in [-1, 1]."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        images = images.astype(np.float32) / 127.5 - 1.0
    if images.shape[1] != size:
        images = tf.image.resize(images, [size, size], antialias=True).numpy()
    return np.clip(images, -1.0, 1.0).astype(np.float32)


def read_examples(reader, count, offset=0):
    """The first `count` usable rows of a reader after `offset`, as numpy arrays."""
    rows = reader.valid_rows[offset : offset + count]
    if len(rows) < count:
        raise ValueError(
            f"{reader.path} has {len(reader.valid_rows) - offset} usable examples after "
            f"offset {offset}; {count} were asked for."
        )
    out = {}
    for start in range(0, len(rows), 1024):
        part = reader.read_rows(rows[start : start + 1024])
        for key, value in part.items():
            out.setdefault(key, []).append(value)
    return {key: np.concatenate(value) for key, value in out.items()}


def attribute_labels(examples):
    return {name: examples[key].astype(np.int64) for name, (key, _) in ATTRIBUTE_HEADS.items()}


def attribute_classifier(workdir, train_reader, validation_reader, size, num_train=12000,
                         num_validation=2000, epochs=4, seed=0, log_fn=log):
    """The attribute classifier of a run, trained on real images once and cached.

    Trained on `num_train` real training images at the generator's output
    size (cosine learning-rate decay, global seeds set to `seed` first, so
    the same data gives the same classifier); its accuracy on
    `num_validation` real validation images (the ceiling of the
    generated-image accuracies) is stored beside it.

    Returns:
        `(model, real_validation_accuracy)`.

    Raises:
        ValueError: the data has no attribute ids (not the embedded data).
    """
    if not (train_reader.has_attributes and validation_reader.has_attributes):
        raise ValueError(
            "Attribute accuracy needs class/colour/pattern ids, which only the embedded "
            "Fashion-MNIST data has."
        )
    directory = os.path.join(workdir, "eval")
    path = os.path.join(directory, CLASSIFIER_FILENAME)
    info_path = os.path.join(directory, CLASSIFIER_INFO_FILENAME)
    if os.path.exists(path) and os.path.exists(info_path):
        with open(info_path) as f:
            info = json.load(f)
        if info.get("size") == size:
            return attribute_lib.load_attribute_classifier(path), info["accuracy"]
    start = time.time()
    num_train = min(num_train, train_reader.num_examples)
    log_fn(f"eval: training the attribute classifier on {num_train} real images at {size} px")
    train = read_examples(train_reader, num_train)
    val = read_examples(validation_reader, min(num_validation, validation_reader.num_examples))
    model, accuracy = attribute_lib.train_attribute_classifier(
        to_unit_range(train["image"], size),
        attribute_labels(train),
        to_unit_range(val["image"], size),
        attribute_labels(val),
        epochs=epochs,
        heads={name: classes for name, (_, classes) in ATTRIBUTE_HEADS.items()},
        seed=seed,
    )
    accuracy = {k: float(v) for k, v in accuracy.items()}
    os.makedirs(directory, exist_ok=True)
    model.save(path)
    # Written after the model and atomically: its presence vouches for the cache.
    files.write_json(
        info_path, {"size": size, "accuracy": accuracy, "num_train": len(train["image"])}
    )
    log_fn(f"eval: attribute classifier ready in {time.time() - start:.0f} s, "
           f"real validation accuracy {accuracy}")
    return model, accuracy


def generate_images(model, captions, seeds, batch_size=64, log_fn=log):
    """uint8 images [N, S, S, 3] from a `TextToImage` for captions and seeds."""
    images = []
    for start in range(0, len(captions), batch_size):
        texts = tf.constant(captions[start : start + batch_size])
        batch_seeds = tf.constant(seeds[start : start + batch_size], tf.int64)
        images.append(model.generate(texts, batch_seeds)["images"].numpy())
        if (start // batch_size) % 10 == 9:
            log_fn(f"eval: generated {start + len(images[-1])}/{len(captions)} images")
    return np.concatenate(images)


def attribute_metrics(classifier, images, labels):
    """Accuracy of each attribute of `images` against the caption's labels."""
    return {k: float(v) for k, v in classifier.attribute_accuracy(images, labels).items()}


def domain_fid(classifier, real_images, fake_images):
    """FID in the attribute classifier's embedding (Fashion-MNIST features)."""
    return frechet_distance.frechet_distance(
        classifier.features(real_images), classifier.features(fake_images)
    )


def inception_metrics(inception, real_images, fake_images, splits=10):
    """IS (mean, std) of both sets and FID between them from 2048-d pool features."""
    real_probs, real_pool = inception.predict(real_images)
    fake_probs, fake_pool = inception.predict(fake_images)
    splits = max(1, min(splits, len(fake_images) // 2))
    return {
        "inception_score": list(inception_score.inception_score(fake_probs, splits)),
        "inception_score_real": list(inception_score.inception_score(real_probs, splits)),
        "fid": frechet_distance.frechet_distance(real_pool, fake_pool),
    }


def content_groups(examples, max_descriptions, max_group):
    """Descriptions that have real images of the same content, and those images.

    Content is what `attributes.content_id` says (class, colour and pattern
    on the embedded data; the product otherwise).

    Returns:
        `(chosen, groups)`: indices of up to `max_descriptions` examples, the
        first of each content that has at least two examples, and for each
        the indices of up to `max_group` examples of that content (itself
        first).

    Raises:
        ValueError: no content has two examples.
    """
    ids = np.asarray(content_id(examples))
    members = {}
    for index, key in enumerate(ids):
        members.setdefault(int(key), []).append(index)
    chosen = [rows[0] for rows in members.values() if len(rows) >= 2][:max_descriptions]
    if not chosen:
        raise ValueError(
            f"No content has two images among the {len(ids)} examples read: there is no "
            "real reference for the variety of a description."
        )
    return chosen, [members[int(ids[i])][:max_group] for i in chosen]


def decode_captions(examples):
    return [c.decode("utf-8") if isinstance(c, bytes) else str(c) for c in examples["caption"]]


def caption_sets(examples):
    """Rows of `examples` by caption set, when the data marks held-out captions.

    The embedded validation file marks the captions written with held-out
    synonyms (words no training caption uses) in `held_out_words`.

    Returns:
        `{"in_vocabulary": rows, "held_out": rows}` (int arrays), or `{}`
        when no row is marked.
    """
    marks = examples.get(schema.HELD_OUT)
    if marks is None or not np.any(marks):
        return {}
    marks = np.asarray(marks).astype(bool)
    return {"in_vocabulary": np.flatnonzero(~marks), "held_out": np.flatnonzero(marks)}


def damsm_features(damsm, images, size, batch_size=64):
    """The DAMSM's global image features of uint8 or [-1, 1] `images`: [N, D]."""
    return np.concatenate(
        [
            damsm.image_encoder(
                to_unit_range(images[i : i + batch_size], size), training=False
            )[1].numpy()
            for i in range(0, len(images), batch_size)
        ]
    )


def sentence_features(damsm, tokenizer, captions, batch_size=256):
    """The DAMSM's sentence features of caption strings: [N, D]."""
    out = []
    for i in range(0, len(captions), batch_size):
        token_ids, _ = tokenizer(tf.constant(captions[i : i + batch_size]))
        out.append(damsm.text_encoder(token_ids, training=False)[1].numpy())
    return np.concatenate(out)


def r_precision_by_set(image_features, sentences, ids, sets, seed=0):
    """R-precision within each caption set: {set: {name: value}} (see `caption_sets`).

    Candidates are drawn from the set's own captions, so a held-out caption
    competes with held-out captions only.
    """
    return {
        name: {metric: float(hits.mean())}
        for name, (metric, hits) in r_precision_hits_by_set(
            image_features, sentences, ids, sets, seed
        ).items()
    }


def r_precision_hits_by_set(image_features, sentences, ids, sets, seed=0):
    """The per-caption hits behind `r_precision_by_set`: {set: (metric name, [len(rows)] hits)}."""
    result = {}
    for name, rows in sets.items():
        candidates = r_precision_lib.fitting_candidates(ids[rows])
        result[name] = (
            r_precision_lib.metric_name(candidates),
            r_precision_lib.r_precision_hits_from_features(
                image_features[rows], sentences[rows], ids[rows], candidates, seed=seed
            ),
        )
    return result


def held_out_word_rows(captions, rows):
    """`{held-out word: its rows}`: which of `rows` say each held-out synonym.

    The words are `attributes.HELD_OUT_COLOUR_WORDS` and `HELD_OUT_CLASS_WORDS`
    in that order, matched as whole words of the tokenizer's split (a caption
    with a held-out colour and a held-out class word is in both groups);
    words no caption of `rows` says are left out.

    Args:
        captions: every caption (str), indexed by row.
        rows: int array of the rows to group (e.g. `caption_sets`' held-out rows).
    """
    phrases = [
        phrase
        for phrase in attributes.HELD_OUT_COLOUR_WORDS + attributes.HELD_OUT_CLASS_WORDS
        if phrase is not None
    ]
    padded = {row: f" {' '.join(attributes.split_words(captions[row]))} " for row in rows}
    groups = {}
    for phrase in phrases:
        needle = f" {' '.join(attributes.split_words(phrase))} "
        found = [row for row in rows if needle in padded[row]]
        if found:
            groups[phrase] = np.asarray(found, dtype=np.int64)
    return groups
