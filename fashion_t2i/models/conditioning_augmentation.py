"""Conditioning augmentation (StackGAN): c ~ N(mu(e_bar), sigma(e_bar)^2)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="fashion_t2i")
class ConditioningAugmentation(keras.layers.Layer):
    """Maps the sentence feature to a Gaussian and samples the condition code.

    c = mu + epsilon * exp(log_variance / 2); the KL of N(mu, sigma^2) to
    N(0, I) is part of the generator loss. The noise epsilon is an input, so
    a caller with a seed (the exported `generate` signature) gets the same
    code every time.

    Args:
        condition_dim: size of c.

    Call args:
        sentence_feature: e_bar [B, D].
        epsilon: standard normal noise [B, condition_dim].

    Returns:
        `(c, mu, log_variance)`, each [B, condition_dim].
    """

    def __init__(self, condition_dim, **kwargs):
        super().__init__(**kwargs)
        self.condition_dim = condition_dim
        self.dense = keras.layers.Dense(2 * condition_dim, dtype=self.dtype_policy, name="dense")

    def build(self, sentence_feature_shape, epsilon_shape=None):
        self.dense.build(sentence_feature_shape)

    def call(self, sentence_feature, epsilon):
        mu, log_variance = ops.split(self.dense(sentence_feature), 2, axis=-1)
        log_variance = ops.clip(log_variance, -10.0, 10.0)
        c = mu + ops.cast(epsilon, mu.dtype) * ops.exp(0.5 * log_variance)
        return c, mu, log_variance

    def get_config(self):
        config = super().get_config()
        config["condition_dim"] = self.condition_dim
        return config
