"""The InceptionV3 trunk pretrained on a run's own images, built once and cached.

AttnGAN's DAMSM reads images through an InceptionV3 pretrained on ImageNet and
frozen. Offline there are no ImageNet weights, and the embedded Fashion-MNIST
products are far from ImageNet anyway; what the data has is attribute ids.
`ensure_trunk` trains the trunk to predict them (`TrunkConfig`), freezes it and
keeps it as an ordinary Keras InceptionV3 weights file (no top), so that
`--image_encoder_weights=<that file>` reuses it in any other run. A copy is
also kept beside the training file (`shared_cache_dir`), so that another
workdir trained on the same data with the same trunk config copies it instead
of training it again.

The trunk sees the images as the DAMSM and the GAN show them to it: at the
generator's output size, resized bilinearly to `ModelConfig.image_encoder_size`.
"""

import dataclasses
import hashlib
import json
import os
import shutil
import time

import keras
import numpy as np
import tensorflow as tf

from fashion_t2i import evaluation
from fashion_t2i import files
from fashion_t2i.data.attributes import ATTRIBUTE_HEADS
from fashion_t2i.progress import log

DIRNAME = "image_trunk"
WEIGHTS_FILENAME = "inception_v3_trunk.weights.h5"
INFO_FILENAME = "trunk.json"
# Beside the training file: one directory per stamp, named by its hash.
SHARED_DIRNAME = "image_trunks"


def trunk_weights_path(workdir):
    """Where the run in `workdir` keeps its pretrained trunk."""
    return os.path.join(workdir, DIRNAME, WEIGHTS_FILENAME)


def shared_cache_dir(stamp):
    """The directory beside the training file that keeps the trunk of `stamp`."""
    key = hashlib.sha256(json.dumps(stamp, sort_keys=True).encode("utf-8")).hexdigest()[:16]
    data_dir = os.path.dirname(stamp["train_file"]["path"])
    return os.path.join(data_dir, SHARED_DIRNAME, key)


def trunk_stamp(config, train_path):
    """What the cached trunk depends on: its config, the image sizes, the training file.

    The file is identified by its absolute path, size and modification time
    (the embedded data builder rewrites it when its format changes). A trunk
    trained under mixed precision (`RuntimeConfig.mixed_precision`) has other
    weights than a float32 one, so the policy is part of the stamp; it is
    written only when it is not float32, so that float32 trunks cached before
    it was recorded still match.
    """
    stat = os.stat(train_path)
    # Every TrunkConfig field, as JSON gives it back (lists, not tuples).
    trunk = json.loads(json.dumps(dataclasses.asdict(config.trunk)))
    stamp = {
        "trunk": trunk,
        "image_size": config.model.stage_sizes[-1],
        "input_size": config.model.image_encoder_size,
        "batch_norm_momentum": config.model.image_encoder_batch_norm_momentum,
        "train_file": {
            "path": os.path.abspath(train_path),
            "bytes": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
        },
    }
    if config.runtime.mixed_precision != "off":
        stamp["mixed_precision"] = config.runtime.mixed_precision
    return stamp


def read_info(workdir):
    """The cached trunk's `trunk.json` (stamp, accuracy, time), or None."""
    return _read_info(os.path.join(workdir, DIRNAME))


def _read_info(directory):
    path = os.path.join(directory, INFO_FILENAME)
    if not (os.path.exists(path) and os.path.exists(os.path.join(directory, WEIGHTS_FILENAME))):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def ensure_trunk(config, workdir, train_reader, validation_reader, log_fn=log):
    """The path of the run's pretrained trunk, trained now unless an identical one is cached.

    The cache is `<workdir>/image_trunk/`: the weights and `trunk.json`, whose
    stamp (`trunk_stamp`) must equal the current one for the weights to be
    reused; any change of the trunk config, the image sizes or the training
    file rebuilds it. A run whose workdir has no such trunk first looks for
    one of the same stamp beside the training file (`shared_cache_dir`,
    written after every build where that directory is writable) and copies
    it. Both directories are written in one rename, so an interrupted build
    or copy leaves no trunk behind and the next run builds it again.

    Raises:
        ValueError: the data has no attribute ids (only the embedded data has
            them; use ImageNet or a weights file for other data).
    """
    stamp = trunk_stamp(config, train_reader.path)
    info = read_info(workdir)
    path = trunk_weights_path(workdir)
    if info is not None and info.get("stamp") == stamp:
        log_fn(f"image trunk: reusing {path} (validation accuracy {info['accuracy']})")
        return path
    directory = os.path.dirname(path)
    shared = shared_cache_dir(stamp)
    shared_info = _read_info(shared)
    if shared_info is not None and shared_info.get("stamp") == stamp:
        try:
            _replace_directory(directory, lambda tmp: shutil.copytree(shared, tmp))
        except OSError as error:
            # E.g. another run replacing it at this moment: train instead.
            log_fn(f"image trunk: could not copy {shared} ({error}); training it")
        else:
            log_fn(
                f"image trunk: copied the trunk of the same data and config from {shared} "
                f"to {path} (validation accuracy {shared_info['accuracy']})"
            )
            return path
    if not (train_reader.has_attributes and validation_reader.has_attributes):
        raise ValueError(
            "image_encoder_weights='pretrain' trains the InceptionV3 trunk on attribute ids "
            "(class, colour, pattern), which only the embedded Fashion-MNIST data has; pass "
            "'imagenet' or a weights file (--image_encoder_weights) for this data."
        )
    start = time.time()
    trunk, accuracy = pretrain_trunk(config, train_reader, validation_reader, log_fn)
    seconds = time.time() - start

    def write(tmp):
        os.makedirs(tmp)
        trunk.save_weights(os.path.join(tmp, WEIGHTS_FILENAME))
        files.write_json(
            os.path.join(tmp, INFO_FILENAME),
            {"stamp": stamp, "accuracy": accuracy, "seconds": round(seconds, 1)},
        )

    _replace_directory(directory, write)
    log_fn(
        f"image trunk: trained in {seconds:.0f} s, validation accuracy {accuracy}; "
        f"frozen from here on ({path})"
    )
    try:
        _replace_directory(shared, lambda tmp: shutil.copytree(directory, tmp))
    except OSError as error:
        log_fn(f"image trunk: not kept beside the data ({shared}: {error})")
    return path


def _replace_directory(directory, write):
    """Replaces `directory` by what `write(tmp)` creates at a temporary path, in one rename."""
    if os.path.isdir(directory):
        shutil.rmtree(directory)
    with files.atomic_path(directory) as tmp:
        write(tmp)


def pretrain_trunk(config, train_reader, validation_reader, log_fn=log):
    """Trains an InceptionV3 trunk (no top) on attribute heads; returns it and its accuracy.

    Adam on the sum of the heads' cross-entropies, the learning rate decayed
    to zero on a cosine. Global seeds are set to `config.trunk.seed` first.

    Returns:
        `(trunk, accuracy)`: the `keras.applications.InceptionV3` model
        without top, and `{attribute: validation accuracy}` of the heads.
    """
    trunk_config, model_config = config.trunk, config.model
    keras.utils.set_random_seed(trunk_config.seed)
    image_size = model_config.stage_sizes[-1]
    input_size = model_config.image_encoder_size
    num_train = min(train_reader.num_examples, trunk_config.steps * trunk_config.batch_size)
    num_validation = min(validation_reader.num_examples, trunk_config.num_validation)
    log_fn(
        f"image trunk: training InceptionV3 at {input_size} px on the "
        f"{'/'.join(trunk_config.attributes)} of {num_train} training images "
        f"({trunk_config.steps} steps of {trunk_config.batch_size})"
    )
    train_images, train_labels = _read(train_reader, num_train, trunk_config.attributes)
    val_images, val_labels = _read(validation_reader, num_validation, trunk_config.attributes)
    trunk, classifier = pretraining_model(config)

    def prepare(images, labels):
        return _to_encoder_input(images, image_size, input_size), labels

    train = (
        tf.data.Dataset.from_tensor_slices((train_images, train_labels))
        .shuffle(len(train_images), seed=trunk_config.seed)
        .repeat()
        .batch(trunk_config.batch_size, drop_remainder=True)
        .map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
    classifier.fit(
        train,
        steps_per_epoch=trunk_config.steps,
        epochs=1,
        shuffle=False,  # the dataset is shuffled
        verbose=0,
        callbacks=[_Progress(trunk_config.steps, log_fn)],
    )
    validation = (
        tf.data.Dataset.from_tensor_slices((val_images, val_labels))
        .batch(256)
        .map(prepare)
    )
    logits = classifier.predict(validation, verbose=0)
    accuracy = {
        name: round(float(np.mean(np.argmax(logits[name], -1) == val_labels[name])), 4)
        for name in trunk_config.attributes
    }
    return trunk, accuracy


def pretraining_model(config):
    """`(trunk, classifier)`: a fresh InceptionV3 trunk and, on it, the compiled heads.

    The classifier maps `[B, S, S, 3]` encoder inputs (`S` =
    `image_encoder_size`, values in [-1, 1]) to `{attribute: logits}` over the
    heads of `config.trunk.attributes`: Adam on the sum of their
    cross-entropies, the learning rate decayed to zero on a cosine over
    `config.trunk.steps`.
    """
    trunk_config, model_config = config.trunk, config.model
    input_size = model_config.image_encoder_size
    trunk = keras.applications.InceptionV3(
        include_top=False, weights=None, input_shape=(input_size, input_size, 3)
    )
    for layer in trunk.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = model_config.image_encoder_batch_norm_momentum
    inputs = keras.Input((input_size, input_size, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(trunk(inputs))
    outputs = {
        name: keras.layers.Dense(ATTRIBUTE_HEADS[name][1], name=name, dtype="float32")(pooled)
        for name in trunk_config.attributes
    }
    classifier = keras.Model(inputs, outputs, name="trunk_pretraining")
    schedule = keras.optimizers.schedules.CosineDecay(
        trunk_config.learning_rate, trunk_config.steps
    )
    classifier.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss={
            name: keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            for name in trunk_config.attributes
        },
        metrics={name: ["accuracy"] for name in trunk_config.attributes},
    )
    return trunk, classifier


def _read(reader, count, attributes):
    """The first `count` usable rows: uint8 images and `{attribute: int64 ids}`."""
    examples = evaluation.read_examples(reader, count)
    labels = evaluation.attribute_labels(examples)
    return examples["image"], {name: labels[name] for name in attributes}


def _to_encoder_input(images, image_size, input_size):
    """uint8 images as the image encoder gets them: [-1, 1] at `image_size`, then resized."""
    images = tf.cast(images, tf.float32) / 127.5 - 1.0
    images = tf.image.resize(images, (image_size, image_size), antialias=True)
    images = tf.clip_by_value(images, -1.0, 1.0)
    return tf.image.resize(images, (input_size, input_size), method="bilinear")


class _Progress(keras.callbacks.Callback):
    """A progress line every tenth of the steps."""

    def __init__(self, steps, log_fn):
        super().__init__()
        self.steps = steps
        self.every = max(1, steps // 10)
        self.log_fn = log_fn
        self.start = None

    def on_train_begin(self, logs=None):
        self.start = time.time()

    def on_train_batch_end(self, batch, logs=None):
        step = batch + 1
        if step % self.every and step != self.steps:
            return
        logs = logs or {}
        accuracies = ", ".join(
            f"{key.split('_accuracy')[0]} {value:.3f}"
            for key, value in sorted(logs.items())
            if key.endswith("accuracy")
        )
        self.log_fn(
            f"image trunk: step {step}/{self.steps}, loss {logs.get('loss', float('nan')):.3f}, "
            f"train accuracy {accuracies} ({time.time() - self.start:.0f} s)"
        )
