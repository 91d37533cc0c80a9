"""Per-pixel attention of the image features over the words (AttnGAN's F^attn)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="fashion_t2i")
class WordAttention(keras.layers.Layer):
    """Gives every pixel of h a word-context vector.

    The words are projected by a 1x1 map (no bias) to the image channels,
    e' = U e; every pixel scores every word, s = h_p . e'_t; a softmax over
    the words (padding masked) gives beta; the context is sum_t beta_pt e'_t.

    Args:
        channels: channels of the image features h (and of the context).

    Call args:
        image_features: h [B, H, W, C].
        word_features: e [B, T, D].
        word_mask: bool [B, T], False at padding.

    Returns:
        `(context, attention)`: [B, H, W, C] and beta as [B, T, H, W]
        (each pixel's weights sum to 1 over the unmasked words).
    """

    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.word_projection = keras.layers.Dense(
            channels, use_bias=False, dtype=self.dtype_policy, name="word_projection"
        )

    def build(self, image_features_shape, word_features_shape=None, word_mask_shape=None):
        # Keras passes each call argument's shape as `<argument>_shape`.
        if word_features_shape is not None:
            self.word_projection.build(word_features_shape)

    def call(self, image_features, word_features, word_mask):
        batch = ops.shape(image_features)[0]
        height, width = ops.shape(image_features)[1], ops.shape(image_features)[2]
        words = self.word_projection(word_features)  # [B, T, C]
        pixels = ops.reshape(image_features, (batch, -1, self.channels))  # [B, HW, C]
        scores = ops.einsum("bpc,btc->bpt", pixels, words)
        mask = ops.expand_dims(ops.cast(word_mask, "bool"), 1)
        scores = ops.where(mask, scores, ops.cast(-1e9, scores.dtype))
        beta = ops.softmax(scores, axis=-1) * ops.cast(mask, scores.dtype)
        context = ops.einsum("bpt,btc->bpc", beta, words)
        context = ops.reshape(context, (batch, height, width, self.channels))
        attention = ops.reshape(ops.transpose(beta, (0, 2, 1)), (batch, -1, height, width))
        return context, attention

    def get_config(self):
        config = super().get_config()
        config["channels"] = self.channels
        return config
