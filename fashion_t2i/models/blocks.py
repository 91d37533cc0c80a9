"""Convolution blocks shared by the generator stages (AttnGAN's building blocks)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="fashion_t2i")
class GLU(keras.layers.Layer):
    """Gated linear unit over channels: the first half times sigmoid(second half)."""

    def call(self, x):
        a, b = ops.split(x, 2, axis=-1)
        return a * ops.sigmoid(b)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (input_shape[-1] // 2,)


def upsample_block(filters, name, dtype=None):
    """Nearest x2 -> conv3x3 (2*filters) -> BN -> GLU."""
    return keras.Sequential(
        [
            keras.layers.UpSampling2D(2, interpolation="nearest", dtype=dtype, name=f"{name}_up"),
            keras.layers.Conv2D(
                2 * filters, 3, padding="same", use_bias=False, dtype=dtype, name=f"{name}_conv"
            ),
            keras.layers.BatchNormalization(dtype=dtype, name=f"{name}_norm"),
            GLU(dtype=dtype, name=f"{name}_glu"),
        ],
        name=name,
    )


@keras.saving.register_keras_serializable(package="fashion_t2i")
class ResidualBlock(keras.layers.Layer):
    """x + BN(conv3x3(GLU(BN(conv3x3(x))))), channel count kept."""

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.conv1 = keras.layers.Conv2D(
            2 * filters, 3, padding="same", use_bias=False, dtype=self.dtype_policy, name="conv1"
        )
        self.norm1 = keras.layers.BatchNormalization(dtype=self.dtype_policy, name="norm1")
        self.glu = GLU(dtype=self.dtype_policy, name="glu")
        self.conv2 = keras.layers.Conv2D(
            filters, 3, padding="same", use_bias=False, dtype=self.dtype_policy, name="conv2"
        )
        self.norm2 = keras.layers.BatchNormalization(dtype=self.dtype_policy, name="norm2")

    def build(self, input_shape):
        self.conv1.build(input_shape)
        hidden = tuple(input_shape[:-1]) + (2 * self.filters,)
        self.norm1.build(hidden)
        self.conv2.build(tuple(input_shape[:-1]) + (self.filters,))
        self.norm2.build(tuple(input_shape[:-1]) + (self.filters,))

    def call(self, x, training=False):
        y = self.glu(self.norm1(self.conv1(x), training=training))
        return x + self.norm2(self.conv2(y), training=training)

    def get_config(self):
        config = super().get_config()
        config["filters"] = self.filters
        return config


def unit_rms(x):
    """`x` scaled to root-mean-square 1 over its last axis; zero vectors stay zero.

    The DAMSM's losses are cosines (and softmaxes of dot products it may
    rescale freely), so the scale of its text features is arbitrary: after
    training it can be 1e-3. The generator and the discriminators read text
    through this normalisation, so a tiny scale cannot hide the caption
    next to unit-scale noise and image features. Computed in float32.
    """
    y = ops.cast(x, "float32")
    rms = ops.sqrt(ops.mean(ops.square(y), axis=-1, keepdims=True) + 1e-12)
    return ops.cast(y / ops.maximum(rms, 1e-6), x.dtype)


def rgb_head(name):
    """conv3x3 -> 3 channels -> tanh: an image in [-1, 1].

    Always float32, also under a mixed-precision policy: the images feed the
    discriminators, the losses and the exported uint8 output.
    """
    return keras.layers.Conv2D(
        3, 3, padding="same", activation="tanh", dtype="float32", name=name
    )
