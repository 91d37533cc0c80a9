"""Bi-LSTM text encoder: word features e and sentence feature e_bar."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="fashion_t2i")
class TextEncoder(keras.layers.Layer):
    """Embeds token ids and runs one bidirectional LSTM over them.

    Word features `e` [B, T, D] are the LSTM outputs of both directions
    (zero at padding positions); the sentence feature `e_bar` [B, D] is the
    concatenation of the two final states (seed: D is the sum of the two
    directions' sizes). A caption with no word gives zero features.

    Args:
        vocabulary_size: number of token ids (id 0 pads).
        embedding_dim: word embedding size (the seed and AttnGAN: 300).
        joint_dim: D; each LSTM direction has `joint_dim // 2` units.
        dropout: dropout on the embeddings during training.
        embeddings_initializer: initializer of the embedding matrix, e.g. a
            `keras.initializers.Constant` of pretrained word vectors.

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
        **kwargs,
    ):
        super().__init__(**kwargs)
        if joint_dim % 2:
            raise ValueError(f"joint_dim must be even, got {joint_dim}.")
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.joint_dim = joint_dim
        self.dropout = dropout
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.embedding = keras.layers.Embedding(
            vocabulary_size,
            embedding_dim,
            embeddings_initializer=self.embeddings_initializer,
            dtype=self.dtype_policy,
            name="embedding",
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
        self.lstm.build(tuple(token_ids_shape) + (self.embedding_dim,))
        self.built = True

    def call(self, token_ids, training=False):
        mask = ops.not_equal(token_ids, 0)
        x = self.embedding_dropout(self.embedding(token_ids), training=training)
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
            }
        )
        return config
