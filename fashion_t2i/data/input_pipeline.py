"""Batches for training and evaluation: multi-scale images, token ids, wrong captions."""

import tensorflow as tf

from fashion_t2i.data.attributes import content_id


# AttnGAN enlarges images by 76/64 before a random crop back to the final size.
CROP_MARGIN = 76.0 / 64.0


class InputPipeline:
    """Turns a `FashionGenReader` into batches of dicts.

    Every batch holds:
    - `images`: a tuple with the image at every stage size, float32 in
      [-1, 1], [B, s, s, 3], smallest first;
    - `caption` [B] string, `token_ids` int32 [B, T], `lengths` int32 [B];
    - `wrong_token_ids`, `wrong_lengths`: the caption of another example of
      the batch (the next one, cyclically), the mismatched pair of the
      discriminator loss;
    - `product_id` int64 [B], and `class_id`, `colour_id`, `pattern_id`,
      `held_out_words` (int32 [B]) when the file has them;
    - `content_id` int64 [B]: examples with equal ids show the same thing
      and are not negatives of each other in the similarity loss. It is the
      product id, or on files with attributes the (class, colour, pattern)
      combination, since such captions say the same thing.

    With `training=True` images are augmented as in AttnGAN (resize by 76/64,
    random crop, random horizontal flip) and examples are shuffled; with
    `deterministic=True` in the config both depend only on the seed.

    Args:
        reader: a `FashionGenReader`.
        tokenizer: a `fashion_t2i.text.Tokenizer`.
        stage_sizes: image size of every stage, e.g. `(32, 64)`.
        config: a `DataConfig`.
        training: augment and shuffle.
    """

    def __init__(self, reader, tokenizer, stage_sizes, config, training=True):
        self.reader = reader
        self.tokenizer = tokenizer
        self.stage_sizes = tuple(int(s) for s in stage_sizes)
        self.config = config
        self.training = training

    def _images(self, index, image):
        final = self.stage_sizes[-1]
        image = tf.cast(image, tf.float32) / 127.5 - 1.0
        if self.training and self.config.augment:
            seed = tf.stack([tf.cast(self.config.seed, tf.int64), index])
            big = int(round(final * CROP_MARGIN))
            image = tf.image.resize(image, [big, big], antialias=True)
            image = tf.image.stateless_random_crop(image, [final, final, 3], seed=seed)
            image = tf.image.stateless_random_flip_left_right(image, seed=seed + 1)
        else:
            image = tf.image.resize(image, [final, final], antialias=True)
        images = tuple(
            image if size == final else tf.image.resize(image, [size, size], antialias=True)
            for size in self.stage_sizes
        )
        return tuple(tf.clip_by_value(x, -1.0, 1.0) for x in images)

    def _example(self, index, example):
        out = {key: value for key, value in example.items() if key != "image"}
        out["images"] = self._images(index, example["image"])
        out["content_id"] = content_id(example)
        return out

    def _tokenize(self, batch):
        batch["token_ids"], batch["lengths"] = self.tokenizer(batch["caption"])
        batch["wrong_token_ids"] = tf.roll(batch["token_ids"], shift=-1, axis=0)
        batch["wrong_lengths"] = tf.roll(batch["lengths"], shift=-1, axis=0)
        return batch

    def dataset(self, repeat=None, batch_size=None):
        """The batched `tf.data.Dataset`.

        Args:
            repeat: repeat forever (default: when training).
            batch_size: default `config.batch_size`. The last partial batch is
                dropped, so every batch has this static size.
        """
        repeat = self.training if repeat is None else repeat
        batch_size = batch_size or self.config.batch_size
        ds = self.reader.dataset(shuffle=self.training, seed=self.config.seed, repeat=repeat)
        if self.training:
            ds = ds.shuffle(self.config.shuffle_buffer, seed=self.config.seed)
        ds = ds.enumerate().map(self._example, num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.batch(batch_size, drop_remainder=True)
        ds = ds.map(self._tokenize, num_parallel_calls=tf.data.AUTOTUNE)
        options = tf.data.Options()
        options.deterministic = self.config.deterministic or not self.training
        ds = ds.with_options(options)
        return ds.prefetch(tf.data.AUTOTUNE)


