"""The stacked generator: G1(z, e_bar) draws the layout, G2..(h, e) refine it."""

import keras
from keras import ops

from fashion_t2i.models import blocks
from fashion_t2i.models.conditioning_augmentation import ConditioningAugmentation
from fashion_t2i.models.word_attention import WordAttention


@keras.saving.register_keras_serializable(package="fashion_t2i")
class Generator(keras.Model):
    """h1 = G1(z, e_bar); h_k = G_k(h_{k-1}, e); one RGB image per stage.

    Stage 1: concat(z, c) -> dense -> 4x4 -> upsampling blocks (nearest x2,
    conv3x3, BN, GLU) to `stage1_size` -> h1, with channels halving from
    `gf_dim * 2**k` to `gf_dim`. Refinement stage k: word attention over
    h_{k-1} -> concat(h, context) -> residual blocks -> upsampling block ->
    h_k at twice the size. A tanh RGB head reads every h_k. e_bar and each
    word of e are first scaled to unit root-mean-square (`blocks.unit_rms`).

    Args:
        z_dim: noise size.
        condition_dim: size of the conditioning-augmentation code.
        gf_dim: channels of every stage's features.
        stage1_size: stage-1 image size (4 * 2**k).
        num_refinement_stages: stages after stage 1 (the seed: 1).
        residual_blocks: residual blocks per refinement stage.

    Call args:
        inputs: dict with `sentence_feature` [B, D], `word_features`
            [B, T, D], `word_mask` bool [B, T], `noise` [B, z_dim] and
            `condition_noise` [B, condition_dim] (both standard normal).

    Returns:
        dict with `images` (tuple, one [B, s, s, 3] per stage, in [-1, 1]),
        `attention` (tuple, one [B, T, s, s] per refinement stage, at the
        size of the stage's input), `mu`, `log_variance`.
    """

    def __init__(
        self,
        z_dim=100,
        condition_dim=100,
        gf_dim=32,
        stage1_size=64,
        num_refinement_stages=1,
        residual_blocks=2,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.z_dim = z_dim
        self.condition_dim = condition_dim
        self.gf_dim = gf_dim
        self.stage1_size = stage1_size
        self.num_refinement_stages = num_refinement_stages
        self.residual_blocks = residual_blocks
        num_up = 0
        while 4 * 2**num_up < stage1_size:
            num_up += 1
        self.num_up = num_up
        dtype = self.dtype_policy
        self.conditioning = ConditioningAugmentation(
            condition_dim, dtype=dtype, name="conditioning"
        )
        self.initial_channels = gf_dim * 2**num_up
        self.initial_dense = keras.layers.Dense(
            4 * 4 * self.initial_channels * 2, use_bias=False, dtype=dtype, name="initial_dense"
        )
        self.initial_norm = keras.layers.BatchNormalization(dtype=dtype, name="initial_norm")
        self.initial_glu = blocks.GLU(dtype=dtype, name="initial_glu")
        self.stage1_blocks = [
            blocks.upsample_block(self.initial_channels // 2 ** (i + 1), f"stage1_up{i}", dtype)
            for i in range(num_up)
        ]
        self.attentions = []
        self.residuals = []
        self.refine_ups = []
        for k in range(num_refinement_stages):
            stage = k + 2
            self.attentions.append(WordAttention(gf_dim, dtype=dtype, name=f"stage{stage}_attention"))
            self.residuals.append(
                [
                    blocks.ResidualBlock(2 * gf_dim, dtype=dtype, name=f"stage{stage}_res{i}")
                    for i in range(residual_blocks)
                ]
            )
            self.refine_ups.append(blocks.upsample_block(gf_dim, f"stage{stage}_up", dtype))
        self.heads = [
            blocks.rgb_head(f"stage{k + 1}_rgb") for k in range(num_refinement_stages + 1)
        ]

    def call(self, inputs, training=False):
        # Text enters at unit scale, whatever the scale of the text encoder.
        sentence = blocks.unit_rms(inputs["sentence_feature"])
        words = blocks.unit_rms(inputs["word_features"])
        c, mu, log_variance = self.conditioning(sentence, inputs["condition_noise"])
        noise = ops.cast(inputs["noise"], c.dtype)
        h = self.initial_dense(ops.concatenate([noise, c], axis=-1))
        h = self.initial_glu(self.initial_norm(h, training=training))
        h = ops.reshape(h, (-1, 4, 4, self.initial_channels))
        for block in self.stage1_blocks:
            h = block(h, training=training)
        images = [self.heads[0](h)]
        attentions = []
        for k in range(self.num_refinement_stages):
            context, attention = self.attentions[k](h, words, inputs["word_mask"])
            h = ops.concatenate([h, context], axis=-1)
            for block in self.residuals[k]:
                h = block(h, training=training)
            h = self.refine_ups[k](h, training=training)
            images.append(self.heads[k + 1](h))
            attentions.append(attention)
        return {
            "images": tuple(images),
            "attention": tuple(attentions),
            "mu": mu,
            "log_variance": log_variance,
        }

    @staticmethod
    def inputs(word_features, sentence_feature, word_mask, noise, condition_noise):
        """The generator's input dict (the one place it is assembled)."""
        return {
            "sentence_feature": sentence_feature,
            "word_features": word_features,
            "word_mask": word_mask,
            "noise": noise,
            "condition_noise": condition_noise,
        }

    def dummy_inputs(self, batch_size, max_words, joint_dim):
        """Zero inputs of the given sizes (all words present), to create the variables."""
        return self.inputs(
            ops.zeros((batch_size, max_words, joint_dim)),
            ops.zeros((batch_size, joint_dim)),
            ops.ones((batch_size, max_words), dtype="bool"),
            ops.zeros((batch_size, self.z_dim)),
            ops.zeros((batch_size, self.condition_dim)),
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "z_dim": self.z_dim,
                "condition_dim": self.condition_dim,
                "gf_dim": self.gf_dim,
                "stage1_size": self.stage1_size,
                "num_refinement_stages": self.num_refinement_stages,
                "residual_blocks": self.residual_blocks,
            }
        )
        return config
