"""Bi-LSTM text encoder: word features e and sentence feature e_bar."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="fashion_t2i")
class TextEncoder(keras.layers.Layer):
    """Embeds token ids and runs one bidirectional LSTM over them.

    The embedding is either one trained table (`pretrained_dim=0`, as in the
    seed and AttnGAN), or a frozen table of pretrained word vectors followed
    by a trained linear map to `embedding_dim` (`pretrained_dim=d`): every
    word of the table, seen in training or not, goes through the same map, so
    a word never seen in a caption lands near the words its vector is near.
    With `word_offsets`, a trained per-word offset (zero at the start) is
    added to the vector before the map: words of the training captions can
    move, the others keep their pretrained vector. With `word_table`, a
    trained table of `embedding_dim` (as without vectors) is added after the
    map, which then starts at zero: training starts as the plain trained
    table does, and the map takes from the vectors what helps the loss; a
    word no caption used reads mostly through the map. With
    `word_table_dropout`, training leaves a word's table row out at that
    rate, so the encoder also learns to read words through the vectors
    alone, as it must read a word no caption used.

    Word features `e` [B, T, D] are the LSTM outputs of both directions
    (zero at padding positions); the sentence feature `e_bar` [B, D] is the
    concatenation of the two final states (seed: D is the sum of the two
    directions' sizes). A caption with no word gives zero features.

    Args:
        vocabulary_size: number of token ids (id 0 pads).
        embedding_dim: word embedding size (the seed and AttnGAN: 300).
        joint_dim: D; each LSTM direction has `joint_dim // 2` units.
        dropout: dropout on the embeddings during training.
        embeddings_initializer: initializer of the embedding matrix (of the
            frozen table when `pretrained_dim` is set), e.g. a
            `keras.initializers.Constant` of pretrained word vectors.
        pretrained_dim: size of the frozen pretrained table; 0 trains one
            `embedding_dim` table instead.
        word_offsets: add a trained per-word offset to the frozen vectors
            (only with `pretrained_dim`).
        word_table: add a trained `embedding_dim` table after the map, and
            start the map at zero (only with `pretrained_dim`).
        word_table_dropout: rate at which training leaves out a word's table
            row (only with `word_table`; never at inference).

    Call args:
        token_ids: int [B, T], 0 for padding.
        training: whether dropout is active.

    Returns:
        `(word_features, sentence_feature)`: [B, T, D] and [B, D].

    Example:
        >>> encoder = TextEncoder(vocabulary_size=50, embedding_dim=16, joint_dim=32)
        >>> words, sentence = encoder(np.array([[4, 7, 2, 0]]))
    """

    def __init__(
        self,
        vocabulary_size,
        embedding_dim=300,
        joint_dim=256,
        dropout=0.0,
        embeddings_initializer="uniform",
        pretrained_dim=0,
        word_offsets=False,
        word_table=False,
        word_table_dropout=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if joint_dim % 2:
            raise ValueError(f"joint_dim must be even, got {joint_dim}.")
        if word_offsets and not pretrained_dim:
            raise ValueError("word_offsets needs a pretrained table (pretrained_dim > 0).")
        if word_table and not pretrained_dim:
            raise ValueError("word_table needs a pretrained table (pretrained_dim > 0).")
        if not 0.0 <= word_table_dropout < 1.0 or (word_table_dropout and not word_table):
            raise ValueError(
                "word_table_dropout must be in [0, 1) and needs word_table, got "
                f"{word_table_dropout} (word_table={word_table})."
            )
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.joint_dim = joint_dim
        self.dropout = dropout
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.pretrained_dim = int(pretrained_dim)
        self.word_offsets = bool(word_offsets)
        self.word_table = bool(word_table)
        self.word_table_dropout = float(word_table_dropout)
        self.offsets = self.projection = self.table = None
        self.embedding = keras.layers.Embedding(
            vocabulary_size,
            self.pretrained_dim or embedding_dim,
            embeddings_initializer=self.embeddings_initializer,
            trainable=not self.pretrained_dim,
            dtype=self.dtype_policy,
            name="embedding",
        )
        if self.word_offsets:
            self.offsets = keras.layers.Embedding(
                vocabulary_size,
                self.pretrained_dim,
                embeddings_initializer="zeros",
                dtype=self.dtype_policy,
                name="word_offsets",
            )
        self.seed_generator = keras.random.SeedGenerator(0) if self.word_table_dropout else None
        if self.word_table:
            self.table = keras.layers.Embedding(
                vocabulary_size, embedding_dim, dtype=self.dtype_policy, name="word_table"
            )
        if self.pretrained_dim:
            self.projection = keras.layers.Dense(
                embedding_dim,
                kernel_initializer="zeros" if self.word_table else "glorot_uniform",
                dtype=self.dtype_policy,
                name="projection",
            )
        self.embedding_dropout = keras.layers.Dropout(dropout, name="embedding_dropout")
        self.lstm = keras.layers.Bidirectional(
            keras.layers.LSTM(
                joint_dim // 2, return_sequences=True, return_state=True, dtype=self.dtype_policy
            ),
            merge_mode="concat",
            dtype=self.dtype_policy,
            name="bi_lstm",
        )

    def build(self, token_ids_shape):
        self.embedding.build(token_ids_shape)
        if self.offsets is not None:
            self.offsets.build(token_ids_shape)
        if self.table is not None:
            self.table.build(token_ids_shape)
        if self.projection is not None:
            self.projection.build(tuple(token_ids_shape) + (self.pretrained_dim,))
        self.lstm.build(tuple(token_ids_shape) + (self.embedding_dim,))
        self.built = True

    def embed(self, token_ids, training=False):
        """The LSTM's input for `token_ids` [B, T]: [B, T, embedding_dim], before dropout."""
        x = self.embedding(token_ids)
        if self.offsets is not None:
            x = x + self.offsets(token_ids)
        if self.projection is not None:
            x = self.projection(x)
        if self.table is not None:
            rows = self.table(token_ids)
            if training and self.word_table_dropout:
                keep = keras.random.uniform(ops.shape(token_ids), seed=self.seed_generator)
                keep = ops.cast(keep >= self.word_table_dropout, rows.dtype)
                rows = rows * ops.expand_dims(keep, -1)
            x = x + rows
        return x

    def call(self, token_ids, training=False):
        mask = ops.not_equal(token_ids, 0)
        x = self.embedding_dropout(self.embed(token_ids, training=training), training=training)
        outputs, forward_h, _, backward_h, _ = self.lstm(x, mask=mask, training=training)
        valid = ops.cast(ops.expand_dims(mask, -1), outputs.dtype)
        word_features = outputs * valid
        any_word = ops.cast(ops.any(mask, axis=1, keepdims=True), outputs.dtype)
        sentence_feature = ops.concatenate([forward_h, backward_h], axis=-1) * any_word
        return word_features, sentence_feature

    def compute_output_shape(self, token_ids_shape):
        batch, words = token_ids_shape[0], token_ids_shape[1]
        return (batch, words, self.joint_dim), (batch, self.joint_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "embedding_dim": self.embedding_dim,
                "joint_dim": self.joint_dim,
                "dropout": self.dropout,
                "embeddings_initializer": keras.initializers.serialize(
                    self.embeddings_initializer
                ),
                "pretrained_dim": self.pretrained_dim,
                "word_offsets": self.word_offsets,
                "word_table": self.word_table,
                "word_table_dropout": self.word_table_dropout,
            }
        )
        return config
