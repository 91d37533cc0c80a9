"""Captions to fixed-length token ids, identically in tf.data and in the serving graph."""

import tensorflow as tf

from fashion_t2i.text import normalization
from fashion_t2i.text import vocabulary


class Tokenizer(tf.Module):
    """Maps caption strings to `max_words` token ids.

    Text is NFKC-normalised and case-folded, split on every character that is
    not a letter or a digit, and looked up in the vocabulary file (id = line
    number; 0 pads, 1 is out of vocabulary). Captions with more than
    `max_words` words keep the first `max_words` (the garment and its colour
    come first in Fashion-Gen descriptions); shorter ones are padded with 0.

    The lookup table is initialised from the vocabulary file, which becomes an
    asset when the tokenizer is tracked by an exported SavedModel.

    Args:
        vocabulary_path: vocabulary text file (see `vocabulary.save_vocabulary`).
        max_words: number of ids per caption.
        max_bytes: texts are cut to this many bytes before tokenisation
            (None: no cut).

    Example:
        >>> tokenizer = Tokenizer("vocab.txt", max_words=12)
        >>> ids, lengths = tokenizer(tf.constant(["A navy blue ankle boot"]))
    """

    def __init__(self, vocabulary_path, max_words, max_bytes=None, name="tokenizer"):
        super().__init__(name=name)
        self.tokens = vocabulary.load_vocabulary(vocabulary_path)
        self.vocabulary_path = vocabulary_path
        self.max_words = int(max_words)
        self.max_bytes = max_bytes
        self.vocabulary_size = len(self.tokens)
        initializer = tf.lookup.TextFileInitializer(
            vocabulary_path,
            key_dtype=tf.string,
            key_index=tf.lookup.TextFileIndex.WHOLE_LINE,
            value_dtype=tf.int64,
            value_index=tf.lookup.TextFileIndex.LINE_NUMBER,
        )
        self.table = tf.lookup.StaticHashTable(initializer, default_value=vocabulary.OOV_ID)

    def all_words(self, texts):
        """Normalised words of `texts` [B], none cut: ragged [B, (w)].

        The words beyond `max_words` are the ones the model never sees.
        """
        return normalization.split_words(normalization.normalize(texts, self.max_bytes))

    def words(self, texts):
        """Normalised words of `texts` [B], truncated to `max_words`: ragged [B, (w)]."""
        return self.all_words(texts)[:, : self.max_words]

    def typed_words(self, texts):
        """The words of `texts` [B] as typed, one per id: string [B, max_words].

        Normalised and truncated as for the ids, but an out-of-vocabulary word
        keeps its text (where `detokenize` gives "[UNK]"); "" at padding.
        """
        texts = tf.convert_to_tensor(texts, tf.string)
        words = self.words(texts).to_tensor(default_value="", shape=[None, self.max_words])
        return tf.ensure_shape(words, [texts.shape[0], self.max_words])

    def __call__(self, texts):
        """Tokenises a batch.

        Args:
            texts: string tensor [B].

        Returns:
            `(ids, lengths)`: int32 [B, max_words] ids and int32 [B] counts of
            non-padding ids.
        """
        texts = tf.convert_to_tensor(texts, tf.string)
        words = self.words(texts)
        ids = tf.ragged.map_flat_values(self.table.lookup, words)
        lengths = tf.cast(ids.row_lengths(), tf.int32)
        ids = ids.to_tensor(default_value=vocabulary.PAD_ID, shape=[None, self.max_words])
        # Keep the static batch size (tf.data batches, fixed-size signatures).
        batch = texts.shape[0]
        ids = tf.ensure_shape(tf.cast(ids, tf.int32), [batch, self.max_words])
        return ids, tf.ensure_shape(lengths, [batch])

    def detokenize(self, ids):
        """Token strings for ids [B, T]: padding becomes the empty string.

        Unknown words become "[UNK]"; `typed_words` gives what they were.
        """
        tokens = tf.constant([""] + self.tokens[1:])
        return tf.gather(tokens, ids)
