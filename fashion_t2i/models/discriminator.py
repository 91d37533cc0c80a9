"""Per-stage discriminator with an unconditional and a conditional logit."""

import keras
from keras import ops

from fashion_t2i.models import blocks


@keras.saving.register_keras_serializable(package="fashion_t2i")
class Discriminator(keras.Model):
    """D_k: is the image real, and does it match the sentence?

    Strided 4x4 convolutions (LeakyReLU 0.2, BN after the first) take the
    image down to 4x4 features x. The unconditional logit is a 4x4 valid
    convolution of x; the conditional one reads concat(x, tiled e_bar)
    through conv3x3 + BN + LeakyReLU, then the same 4x4 head (seed: D_k(x)
    and D_k(x, e_bar)); e_bar is scaled to unit root-mean-square first.

    Args:
        image_size: the stage's image size (4 * 2**k, >= 8).
        df_dim: channels of the first convolution; doubling, at most 8x.
        sentence_dim: D.
        attribute_heads: `{attribute: number of values}`; each gets an
            auxiliary head that predicts it from the averaged 4x4 features
            (AC-GAN, Odena et al. 2017). Empty (the seed): none.

    Call args:
        images: [B, s, s, 3] in [-1, 1].
        sentence_feature: e_bar [B, D].
        wrong_sentence_feature: optional e_bar of another caption [B, D], or
            a list of K such tensors (several mismatched captions per image).
        return_attribute_logits: also return the auxiliary heads' logits.

    Returns:
        `(logits, conditional_logits, wrong_conditional_logits)`: [B], [B],
        and [B] for one wrong caption, [K, B] for a list of K, None without
        `wrong_sentence_feature`; with `return_attribute_logits`,
        `{attribute: logits [B, values]}` follows.
    """

    def __init__(self, image_size, df_dim=64, sentence_dim=256, attribute_heads=None, **kwargs):
        super().__init__(**kwargs)
        attribute_heads = dict(attribute_heads or {})
        for name, count in attribute_heads.items():
            if count < 2:
                raise ValueError(f"Attribute head {name!r} needs >= 2 values, got {count}.")
        self.image_size = image_size
        self.df_dim = df_dim
        self.sentence_dim = sentence_dim
        self.attribute_heads = attribute_heads
        dtype = self.dtype_policy
        self.down = []
        size, channels = image_size, df_dim
        index = 0
        self.feature_channels = 3
        while size > 4:
            self.down.append(
                keras.layers.Conv2D(
                    channels, 4, strides=2, padding="same", use_bias=False, dtype=dtype,
                    name=f"down{index}_conv",
                )
            )
            self.down.append(
                keras.layers.BatchNormalization(dtype=dtype, name=f"down{index}_norm")
                if index
                else keras.layers.Identity(dtype=dtype, name=f"down{index}_identity")
            )
            self.feature_channels = channels
            size //= 2
            channels = min(channels * 2, df_dim * 8)
            index += 1
        self.joint_conv = keras.layers.Conv2D(
            self.feature_channels, 3, padding="same", use_bias=False, dtype=dtype, name="joint_conv"
        )
        self.joint_norm = keras.layers.BatchNormalization(dtype=dtype, name="joint_norm")
        # The logits are float32 also under mixed precision (the losses are).
        self.logit = keras.layers.Conv2D(1, 4, padding="valid", dtype="float32", name="logit")
        self.conditional_logit = keras.layers.Conv2D(
            1, 4, padding="valid", dtype="float32", name="conditional_logit"
        )
        self.attribute_logits = {
            name: keras.layers.Dense(count, dtype="float32", name=f"{name}_logit")
            for name, count in attribute_heads.items()
        }

    def build(self, images_shape, sentence_feature_shape=None, wrong_sentence_feature_shape=None):
        shape = tuple(images_shape)
        for layer in self.down:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.logit.build(shape)
        joint_shape = shape[:-1] + (shape[-1] + self.sentence_dim,)
        self.joint_conv.build(joint_shape)
        self.joint_norm.build(shape[:-1] + (self.feature_channels,))
        self.conditional_logit.build(shape[:-1] + (self.feature_channels,))
        for head in self.attribute_logits.values():
            head.build((shape[0], self.feature_channels))

    def features(self, images, training=False):
        x = images
        for layer in self.down:
            x = layer(x, training=training) if isinstance(
                layer, keras.layers.BatchNormalization
            ) else layer(x)
            if not isinstance(layer, keras.layers.Conv2D):
                x = ops.leaky_relu(x, 0.2)
        return x

    def conditional(self, x, sentence_feature, training=False):
        # At unit scale, like the generator's text (see `blocks.unit_rms`).
        sentence = blocks.unit_rms(sentence_feature)
        tiled = ops.tile(ops.reshape(sentence, (-1, 1, 1, self.sentence_dim)), (1, 4, 4, 1))
        y = ops.concatenate([x, ops.cast(tiled, x.dtype)], axis=-1)
        y = ops.leaky_relu(self.joint_norm(self.joint_conv(y), training=training), 0.2)
        return ops.reshape(self.conditional_logit(y), (-1,))

    def call(self, images, sentence_feature, wrong_sentence_feature=None, training=False,
             return_attribute_logits=False):
        x = self.features(images, training=training)
        logits = ops.reshape(self.logit(x), (-1,))
        conditional = self.conditional(x, sentence_feature, training=training)
        wrong = None
        if isinstance(wrong_sentence_feature, (list, tuple)):
            wrong = ops.stack(
                [self.conditional(x, w, training=training) for w in wrong_sentence_feature]
            )
        elif wrong_sentence_feature is not None:
            wrong = self.conditional(x, wrong_sentence_feature, training=training)
        if not return_attribute_logits:
            return logits, conditional, wrong
        if not self.attribute_logits:
            raise ValueError("This discriminator has no attribute heads.")
        pooled = ops.mean(x, axis=(1, 2))
        return logits, conditional, wrong, {
            name: head(pooled) for name, head in self.attribute_logits.items()
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_size": self.image_size,
                "df_dim": self.df_dim,
                "sentence_dim": self.sentence_dim,
                "attribute_heads": self.attribute_heads,
            }
        )
        return config
