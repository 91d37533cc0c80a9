"""InceptionV3 image encoder: region features v and global feature v_bar."""

import keras
from keras import ops

from fashion_t2i.config.model_config import REGION_LAYERS


@keras.saving.register_keras_serializable(package="fashion_t2i")
class ImageEncoder(keras.layers.Layer):
    """Keras InceptionV3 taps projected to the joint space.

    Images in [-1, 1] (Keras' "tf" preprocessing of InceptionV3) are resized
    bilinearly to `input_size`. Region features come from `region_layer`:
    Keras `mixed7` is TF-slim's `Mixed_6e`, the seed's 17x17x768 layer at
    299 px (Keras `mixed6` is `Mixed_6d`); Keras `mixed2` is `Mixed_5d`,
    35x35x288 at 299 px and 7x7 at 75 px. The global feature is the 2048-d
    average pool of `mixed10`. A 1x1 convolution without bias (W) and a dense
    layer (W_bar) project them to `joint_dim`.

    Args:
        joint_dim: D.
        region_layer: `"mixed7"` (default), `"mixed6"` or `"mixed2"`.
        input_size: InceptionV3 input size, >= 75. Regions of `mixed7`:
            17x17 at 299, 3x3 at 75; of `mixed2`: 35x35 at 299, 7x7 at 75.
        weights: `"imagenet"`, a path to a weights file of the InceptionV3
            trunk without top (`.h5` / `.weights.h5`), or None for random
            initialisation.
        train_trunk: whether the trunk is trainable. Always False with
            pretrained weights: the seed and AttnGAN freeze it.
        batch_norm_momentum: momentum of the trunk's batch normalisation
            when it is trained. Keras' InceptionV3 uses 0.99, whose moving
            statistics lag far behind weights trained from scratch, so
            inference-mode features (validation, the frozen encoder of the
            GAN phase) would not match training-mode ones.

    Call args:
        images: float [B, H, W, 3] in [-1, 1].

    Returns:
        `(region_features, global_feature)`: [B, N, D] with N = h * w, and
        [B, D].
    """

    def __init__(
        self,
        joint_dim=256,
        region_layer="mixed7",
        input_size=299,
        weights=None,
        train_trunk=True,
        batch_norm_momentum=0.9,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if region_layer not in REGION_LAYERS:
            raise ValueError(f"region_layer must be one of {REGION_LAYERS}, got {region_layer!r}.")
        if input_size < 75:
            raise ValueError(f"input_size must be >= 75 for InceptionV3, got {input_size}.")
        self.joint_dim = joint_dim
        self.region_layer = region_layer
        self.input_size = input_size
        self.weights_source = weights or None
        self.train_trunk = bool(train_trunk) and self.weights_source is None
        self.batch_norm_momentum = batch_norm_momentum
        trunk = keras.applications.InceptionV3(
            include_top=False,
            weights=self.weights_source,
            input_shape=(input_size, input_size, 3),
        )
        self.trunk = keras.Model(
            trunk.input,
            [trunk.get_layer(region_layer).output, trunk.get_layer("mixed10").output],
            name="inception_v3_taps",
        )
        self.trunk.trainable = self.train_trunk
        if self.train_trunk:
            for layer in self.trunk.layers:
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.momentum = batch_norm_momentum
        self.region_projection = keras.layers.Conv2D(
            joint_dim, 1, use_bias=False, dtype=self.dtype_policy, name="region_projection"
        )
        self.global_projection = keras.layers.Dense(
            joint_dim, dtype=self.dtype_policy, name="global_projection"
        )

    def build(self, images_shape):
        size = self.input_size
        self.trunk.build((None, size, size, 3))
        region_shape, pooled_shape = self.trunk.compute_output_shape((None, size, size, 3))
        self.region_projection.build(region_shape)
        self.global_projection.build((None, pooled_shape[-1]))
        self.built = True

    @property
    def num_regions(self):
        region_shape, _ = self.trunk.compute_output_shape(
            (None, self.input_size, self.input_size, 3)
        )
        return region_shape[1] * region_shape[2]

    def call(self, images, training=False):
        images = ops.image.resize(
            images, (self.input_size, self.input_size), interpolation="bilinear"
        )
        regions, top = self.trunk(images, training=training and self.train_trunk)
        regions = self.region_projection(regions)
        batch = ops.shape(regions)[0]
        region_features = ops.reshape(regions, (batch, -1, self.joint_dim))
        global_feature = self.global_projection(ops.mean(top, axis=(1, 2)))
        return region_features, global_feature

    def compute_output_shape(self, images_shape):
        return (images_shape[0], self.num_regions, self.joint_dim), (
            images_shape[0],
            self.joint_dim,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "joint_dim": self.joint_dim,
                "region_layer": self.region_layer,
                "input_size": self.input_size,
                "weights": self.weights_source,
                "train_trunk": self.train_trunk,
                "batch_norm_momentum": self.batch_norm_momentum,
            }
        )
        return config
