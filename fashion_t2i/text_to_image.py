"""Raw text in, images out: the graph shared by `generate`, evaluation and the export."""

import os

import tensorflow as tf

from fashion_t2i import checkpointing
from fashion_t2i import networks
from fashion_t2i.config import Config
from fashion_t2i.models.generator import Generator
from fashion_t2i.text import vocabulary as vocabulary_lib
from fashion_t2i.text.tokenizer import Tokenizer


class TextToImage(tf.Module):
    """Tokeniser + frozen text encoder + EMA generator, driven by per-example seeds.

    The noise of example i depends only on `seeds[i]` (stateless RNG), so
    the same text and seed give the same image whatever else is in the
    batch, in Python and in the exported SavedModel alike.

    Args:
        tokenizer: a `Tokenizer` (its vocabulary becomes a SavedModel asset).
        text_encoder: the trained `TextEncoder`.
        generator: the EMA `Generator`.
        max_batch: larger batches are rejected (InvalidArgumentError).

    Raises (inside the graph, as `tf.errors.InvalidArgumentError`):
        an empty batch, a batch above `max_batch`, or a text without any
        letter or digit (nothing to condition on).
    """

    def __init__(self, tokenizer, text_encoder, generator, max_batch=64, name="text_to_image"):
        super().__init__(name=name)
        self.tokenizer = tokenizer
        self.text_encoder = text_encoder
        self.generator = generator
        self.max_batch = int(max_batch)

    def noise(self, seeds):
        """(z, condition noise) for int64 seeds [B]: standard normal, one stream per seed."""
        seeds = tf.cast(seeds, tf.int64)
        generator = self.generator

        def one(seed):
            z = tf.random.stateless_normal([generator.z_dim], seed=tf.stack([seed, 0]))
            c = tf.random.stateless_normal([generator.condition_dim], seed=tf.stack([seed, 1]))
            return z, c

        return tf.map_fn(
            one,
            seeds,
            fn_output_signature=(
                tf.TensorSpec([generator.z_dim], tf.float32),
                tf.TensorSpec([generator.condition_dim], tf.float32),
            ),
        )

    def _check(self, texts, seeds):
        batch = tf.size(texts)
        checks = [
            tf.debugging.assert_equal(tf.rank(texts), 1, message="texts must be a 1-D batch"),
            tf.debugging.assert_greater(batch, 0, message="texts must hold at least one text"),
            tf.debugging.assert_less_equal(
                batch, self.max_batch,
                message=f"at most {self.max_batch} texts per request",
            ),
        ]
        if seeds is not None:
            checks.append(
                tf.debugging.assert_equal(
                    tf.size(seeds), batch, message="seeds must have one entry per text"
                )
            )
        return checks

    def generate(self, texts, seeds):
        """Generates one image per text.

        Args:
            texts: string [B] (UTF-8; invalid bytes are replaced).
            seeds: int64 [B].

        Returns:
            dict: `images` uint8 [B, H, W, 3], `png` string [B], `attention`
            float32 [B, T, h, w] (the last refinement stage's word attention,
            an empty T x 0 map with no refinement stage), `tokens` string
            [B, T] (the vocabulary's word per position: "[UNK]" where a word
            is unknown, "" at padding) and `words` string [B, T] (the
            normalised words as typed, "" at padding; T = `max_words`, later
            words are not used). Unknown words are `words` where `tokens`
            is "[UNK]".
        """
        texts = tf.convert_to_tensor(texts, tf.string)
        with tf.control_dependencies(self._check(texts, seeds)):
            token_ids, lengths = self.tokenizer(texts)
        with tf.control_dependencies(
            [
                tf.debugging.assert_positive(
                    lengths,
                    message="every text must contain at least one letter or digit",
                )
            ]
        ):
            token_ids = tf.identity(token_ids)
        word_features, sentence_feature = self.text_encoder(token_ids, training=False)
        noise, condition_noise = self.noise(seeds)
        outputs = self.generator(
            Generator.inputs(
                word_features, sentence_feature, tf.not_equal(token_ids, 0), noise,
                condition_noise,
            ),
            training=False,
        )
        final = outputs["images"][-1]
        images = tf.cast(tf.round(tf.clip_by_value((final + 1.0) * 127.5, 0.0, 255.0)), tf.uint8)
        png = tf.map_fn(tf.io.encode_png, images, fn_output_signature=tf.TensorSpec([], tf.string))
        if outputs["attention"]:
            attention = tf.cast(outputs["attention"][-1], tf.float32)
        else:
            attention = tf.zeros([tf.shape(texts)[0], self.tokenizer.max_words, 0, 0])
        return {
            "images": images,
            "png": png,
            "attention": attention,
            "tokens": self.tokenizer.detokenize(token_ids),
            "words": self.tokenizer.typed_words(texts),
        }

    def random_seeds(self, texts):
        return tf.random.uniform(
            tf.shape(texts), minval=0, maxval=tf.int64.max, dtype=tf.int64
        )

    @classmethod
    def from_workdir(cls, workdir, max_batch=None, max_text_bytes=None):
        """Restores the EMA generator and text encoder of a trained run.

        Raises:
            FileNotFoundError: `workdir` has no config, vocabulary or GAN
                checkpoint.
        """
        config = Config.load(workdir)
        latest = checkpointing.latest(
            workdir, "gan", "train with --phase=gan (or --phase=all) first."
        )
        model = cls.from_config(
            config, os.path.join(workdir, vocabulary_lib.FILENAME), max_batch, max_text_bytes
        )
        checkpointing.restore(
            checkpointing.variable_checkpoint(
                text_encoder=model.text_encoder, generator_ema=model.generator
            ),
            latest,
        )
        model.checkpoint_path = latest
        return model

    @classmethod
    def from_config(cls, config, vocabulary_path, max_batch=None, max_text_bytes=None):
        """A built, untrained model of `config` over a vocabulary file.

        `max_batch` and `max_text_bytes` default to `config.export`'s.

        Raises:
            FileNotFoundError: no vocabulary file at `vocabulary_path`.
        """
        max_text_bytes = max_text_bytes or config.export.max_text_bytes
        tokenizer = Tokenizer(vocabulary_path, config.text.max_words, max_bytes=max_text_bytes)
        text_encoder = networks.text_encoder(config.model, tokenizer.vocabulary_size)
        generator = networks.generator(config.model, name="generator_ema")
        model = cls(tokenizer, text_encoder, generator, max_batch or config.export.max_batch)
        model.build()
        model.config = config
        return model

    def build(self):
        """Creates the variables by running one example."""
        words = self.tokenizer.max_words
        self.text_encoder(tf.ones([1, words], tf.int32))
        self.generator(self.generator.dummy_inputs(1, words, self.text_encoder.joint_dim))
