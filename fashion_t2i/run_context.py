"""Opening a run: its config, data, vocabulary and trained networks."""

import dataclasses
import functools
import os

import tensorflow as tf

from fashion_t2i import checkpointing
from fashion_t2i import distribute
from fashion_t2i import image_trunk
from fashion_t2i import networks
from fashion_t2i.config import Config
from fashion_t2i.config.config import CONFIG_FILENAME
from fashion_t2i.config.model_config import PRETRAIN_TRUNK
from fashion_t2i.data.build_fashion_mnist_lib import FashionMnistBuilder
from fashion_t2i.data.fashion_gen_reader import FashionGenReader
from fashion_t2i.data.input_pipeline import InputPipeline
from fashion_t2i.progress import log
from fashion_t2i.text import vocabulary as vocabulary_lib
from fashion_t2i.text import word_vectors
from fashion_t2i.text.tokenizer import Tokenizer

# Config sections that change what the checkpoints hold: resuming with
# other values would restore into different networks.
ARCHITECTURE_SECTIONS = ("text", "model")
# Fields of those sections that a resumed run may change: they decide what
# the trained variables are set to once a phase ends, not which variables
# exist (a run trained before `unseen_words` existed gets its words filled
# by resuming it with the new value).
RESUMABLE_FIELDS = frozenset({("model", "unseen_words")})


class RunContext:
    """Config, readers, tokenizer and trained networks of one run directory.

    Open a run with one of the two constructors:
    - `RunContext.for_training(config, workdir)` creates or resumes a run:
      it refuses a config of another architecture than the saved one,
      writes `config.json`, builds the embedded data when no HDF5 paths are
      given and the vocabulary from the training captions (once).
    - `RunContext.open(workdir)` opens a finished run for analysis (export,
      evaluation, generation, checks) and writes nothing into it.

    Args:
        config: the run's `Config`, data paths resolved.
        workdir: the run directory.
        strategy: the `tf.distribute` strategy (default: the current one).
        validation_path: read this validation file instead of the config's.
    """

    def __init__(self, config, workdir, strategy=None, validation_path=None):
        self.config = config
        self.workdir = workdir
        self.strategy = strategy or tf.distribute.get_strategy()
        self.validation_path = validation_path or config.data.validation_path
        self.vocabulary_path = os.path.join(workdir, vocabulary_lib.FILENAME)
        self.stage_sizes = config.model.stage_sizes

    @classmethod
    def for_training(cls, config, workdir, strategy=None, log_fn=log):
        """Creates (or resumes) the run of `config` in `workdir`.

        Raises:
            PermissionError: `workdir` cannot be written.
            ValueError: `workdir` holds a run of another architecture, or only
                one of the two data paths is given.
        """
        config = resolve_data(config)
        check_workdir(config, workdir)
        context = cls(config, workdir, strategy)
        for name, reader in (
            ("train", context.train_reader), ("validation", context.validation_reader)
        ):
            if reader.skipped:
                log_fn(f"data: skipped {reader.skipped} {name} examples with unusable captions")
        if not os.path.exists(context.vocabulary_path):
            tokens = vocabulary_lib.build_vocabulary(
                context.train_reader.captions(), config.text.min_count, config.text.max_vocab
            )
            source, count = config.model.word_vectors_path, config.text.pretrained_words
            if source and count:
                tokens = vocabulary_lib.extend_vocabulary(
                    tokens, word_vectors.pretrained_words(source, count)
                )
                log_fn(
                    f"vocabulary: {len(tokens)} tokens, the training captions' words and "
                    f"{count} most frequent words of {source}"
                )
            vocabulary_lib.save_vocabulary(tokens, context.vocabulary_path)
        return context

    @classmethod
    def open(cls, workdir, validation_path=None):
        """A finished run, read-only: nothing in `workdir` is written or built.

        Raises:
            FileNotFoundError: `workdir` holds no run (no config or
                vocabulary), or its data files are gone.
        """
        for name in (CONFIG_FILENAME, vocabulary_lib.FILENAME):
            if not os.path.exists(os.path.join(workdir, name)):
                raise FileNotFoundError(
                    f"{workdir} holds no trained run ({name} is missing): train one with "
                    f"`python -m fashion_t2i.train --workdir={workdir}` first."
                )
        return cls(Config.load(workdir), workdir, validation_path=validation_path)

    @functools.cached_property
    def train_reader(self):
        return self._reader(self.config.data.train_path)

    @functools.cached_property
    def validation_reader(self):
        return self._reader(self.validation_path)

    def _reader(self, path):
        if not path or not os.path.exists(path):
            raise FileNotFoundError(
                f"Data file {path!r} of the run in {self.workdir} not found: pass another "
                "path, or rebuild the embedded data with `make data`."
            )
        return FashionGenReader.from_config(path, self.config.data)

    @functools.cached_property
    def tokenizer(self):
        return Tokenizer(self.vocabulary_path, self.config.text.max_words)

    def train_batches(self, seed_offset=0):
        """An endless iterator of global training batches, split over the replicas.

        tf.data cannot checkpoint a generator's position, so a resumed run
        passes its start step as `seed_offset`: it draws a fresh shuffle
        instead of replaying the batches the interrupted run already saw.
        """
        data = dataclasses.replace(self.config.data, seed=self.config.data.seed + seed_offset)
        pipeline = InputPipeline(self.train_reader, self.tokenizer, self.stage_sizes, data)
        return distribute.distribute_batches(self.strategy, pipeline.dataset())

    def validation_dataset(self, batch_size=None):
        pipeline = InputPipeline(
            self.validation_reader, self.tokenizer, self.stage_sizes, self.config.data,
            training=False,
        )
        return pipeline.dataset(repeat=False, batch_size=batch_size)

    def fixed_validation_batch(self, size):
        return next(iter(self.validation_dataset(batch_size=size)))

    def damsm_trunk_weights(self, log_fn=log):
        """The pretrained trunk a new DAMSM starts from, or None.

        With `image_encoder_weights="pretrain"` and no DAMSM checkpoint yet,
        builds the run's trunk (or reuses the cached one, see
        `image_trunk.ensure_trunk`) and returns its path. A resumed DAMSM
        restores its (frozen) trunk from its checkpoint instead.
        """
        if self.config.model.image_encoder_weights != PRETRAIN_TRUNK:
            return None
        if tf.train.latest_checkpoint(os.path.join(self.workdir, "damsm")):
            return None
        return image_trunk.ensure_trunk(
            self.config, self.workdir, self.train_reader, self.validation_reader, log_fn
        )

    def restore_damsm(self):
        """The trained DAMSM (latest DAMSM checkpoint), built in the current scope.

        Raises:
            FileNotFoundError: the DAMSM phase has not run in this workdir.
        """
        damsm = networks.damsm(self.config, self.tokenizer.vocabulary_size)
        path = checkpointing.latest(
            self.workdir, "damsm", "run --phase=damsm (or --phase=all) first."
        )
        checkpointing.restore(checkpointing.damsm_checkpoint(damsm), path)
        return damsm

    def restore_gan(self):
        """The trained GAN (latest GAN checkpoint, without optimizer state) and its step.

        Raises:
            FileNotFoundError: the GAN phase has not run in this workdir.
        """
        path = checkpointing.latest(self.workdir, "gan", "run --phase=gan (or --phase=all) first.")
        gan = networks.gan(self.config, self.restore_damsm())
        step = tf.Variable(0, dtype=tf.int64)
        checkpointing.restore(checkpointing.gan_checkpoint(gan, step, optimizers=False), path)
        return gan, int(step.numpy())


def resolve_data(config):
    """Fills in the embedded Fashion-MNIST data when no HDF5 paths are given.

    Builds it (a no-op when up to date) and returns the config with
    `train_path` / `validation_path` pointing at it.

    Raises:
        ValueError: only one of the two paths is given.
    """
    data = config.data
    if data.train_path and data.validation_path:
        return config
    if data.train_path or data.validation_path:
        raise ValueError(
            "Give both --train_path and --validation_path, or neither for the embedded data."
        )
    builder = FashionMnistBuilder.from_config(data)
    builder.build()
    return config.replace(
        data={"train_path": builder.train_path, "validation_path": builder.validation_path}
    )


def check_workdir(config, workdir):
    """Creates `workdir`, refuses a config whose architecture differs from the saved one.

    Raises:
        PermissionError: `workdir` cannot be written.
        ValueError: `workdir/config.json` has other `text` or `model` values
            (but those of `RESUMABLE_FIELDS`).
    """
    try:
        os.makedirs(workdir, exist_ok=True)
        probe = os.path.join(workdir, ".write_test")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as e:
        raise PermissionError(f"Cannot write to workdir {workdir}: {e}") from e
    path = os.path.join(workdir, CONFIG_FILENAME)
    if os.path.exists(path):
        saved = Config.load(path)
        changed = [
            f"{section}.{name}: {getattr(getattr(saved, section), name)!r} -> "
            f"{getattr(getattr(config, section), name)!r}"
            for section in ARCHITECTURE_SECTIONS
            for name in (f.name for f in dataclasses.fields(getattr(config, section)))
            if getattr(getattr(saved, section), name) != getattr(getattr(config, section), name)
            and (section, name) not in RESUMABLE_FIELDS
        ]
        if changed:
            raise ValueError(
                f"{workdir} holds a run with another architecture ({'; '.join(changed)}). "
                "Use a new --workdir, or the same preset and flags to resume."
            )
    config.save(workdir)
