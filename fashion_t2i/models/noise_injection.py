"""Per-pixel noise for a refinement stage, drawn from the generator's z."""

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="fashion_t2i")
class NoiseInjection(keras.layers.Layer):
    """h + m * s: a noise map m [B, H, W, 1] from z, scaled per channel by s.

    In the seed only stage 1 sees z; a refinement stage gets it through the
    layout features alone, so two seeds of one description can differ only
    as much as their 16-pixel layouts do. This layer gives a refinement stage
    noise of its own at every pixel, as StyleGAN's noise inputs do, but the
    map is a fixed random projection of z (a non-trainable [z_dim, H * W]
    matrix, N(0, 1 / z_dim) so that each pixel is about standard normal):
    one seed still draws one image, and the exported graph keeps its inputs.
    The per-channel strength s is trained and starts at 0, so the layer starts
    as the identity.

    Args:
        seed: seed of the projection matrix (fixed per layer, saved with it).

    Call args:
        h: [B, H, W, C] features.
        noise: [B, z_dim] the generator's z.

    Returns:
        [B, H, W, C] in the dtype of `h`.
    """

    def __init__(self, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed

    def build(self, h_shape, noise_shape):
        _, height, width, channels = h_shape
        z_dim = noise_shape[-1]
        self.height, self.width = height, width
        self.projection = self.add_weight(
            name="projection",
            shape=(z_dim, height * width),
            initializer=keras.initializers.RandomNormal(
                stddev=1.0 / math.sqrt(z_dim), seed=self.seed
            ),
            trainable=False,
        )
        self.strength = self.add_weight(
            name="strength", shape=(channels,), initializer="zeros", trainable=True
        )

    def call(self, h, noise):
        noise = ops.cast(noise, self.compute_dtype)
        noise_map = ops.reshape(
            ops.matmul(noise, ops.cast(self.projection, self.compute_dtype)),
            (-1, self.height, self.width, 1),
        )
        return h + noise_map * ops.cast(self.strength, self.compute_dtype)

    def compute_output_shape(self, h_shape, noise_shape):
        return h_shape

    def get_config(self):
        config = super().get_config()
        config.update({"seed": self.seed})
        return config
