"""DAMSM: pretraining of the text and image encoders with L_similarity."""

import keras
import tensorflow as tf

from fashion_t2i import distribute
from fashion_t2i import losses


@keras.saving.register_keras_serializable(package="fashion_t2i")
class DAMSM(keras.Model):
    """Deep attentional multimodal similarity model (AttnGAN), the seed's L_similarity.

    Owns the two encoders and trains them on real (image, caption) pairs so
    that matching pairs score high against the other pairs of the batch at
    the word-region level (both seed attention directions, per `similarity`)
    and the sentence-image level.

    Args:
        text_encoder: a `TextEncoder`.
        image_encoder: an `ImageEncoder`.
        gamma1, gamma2, gamma3: similarity hyper-parameters (AttnGAN 4, 5, 10).
        similarity: "t2i", "i2t" or "both".
        attention: how words and regions attend to each other,
            `losses.cross_attention`'s "attngan" (the seed's) or "cosine".

    Call args:
        inputs: dict with `images` (the stage images smallest first, of
            which the last is used, or one image tensor) and `token_ids`.

    Returns:
        dict of `word_features`, `sentence_feature`, `region_features`,
        `global_feature`.
    """

    def __init__(
        self,
        text_encoder,
        image_encoder,
        gamma1=4.0,
        gamma2=5.0,
        gamma3=10.0,
        similarity="t2i",
        attention="attngan",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.text_encoder = text_encoder
        self.image_encoder = image_encoder
        self.gamma1 = gamma1
        self.gamma2 = gamma2
        self.gamma3 = gamma3
        self.similarity = similarity
        self.attention = attention
        self.loss_names = ["similarity_loss", "global_loss_1", "global_loss_2"]
        if similarity in ("t2i", "both"):
            self.loss_names += ["t2i_loss_1", "t2i_loss_2"]
        if similarity in ("i2t", "both"):
            self.loss_names += ["i2t_loss_1", "i2t_loss_2"]

    @staticmethod
    def _final_images(inputs):
        images = inputs["images"]
        return images[-1] if isinstance(images, (tuple, list)) else images

    def call(self, inputs, training=False):
        word_features, sentence_feature = self.text_encoder(inputs["token_ids"], training=training)
        region_features, global_feature = self.image_encoder(
            self._final_images(inputs), training=training
        )
        return {
            "word_features": word_features,
            "sentence_feature": sentence_feature,
            "region_features": region_features,
            "global_feature": global_feature,
        }

    def compute_losses(self, data, training):
        """The similarity loss terms of the batch (float32).

        Under a distribution strategy every caption is scored against every
        image of the global batch: the features of all replicas are
        gathered, and each replica computes the global loss.
        """
        features = self(data, training=training)
        gather = distribute.all_gather

        def gathered(name):
            return gather(tf.cast(features[name], tf.float32))

        content_ids = data["content_id"]
        return losses.similarity_loss(
            gathered("word_features"),
            gathered("sentence_feature"),
            gather(tf.not_equal(data["token_ids"], 0)),
            gathered("region_features"),
            gathered("global_feature"),
            gamma1=self.gamma1,
            gamma2=self.gamma2,
            gamma3=self.gamma3,
            mode=self.similarity,
            content_ids=gather(content_ids),
            attention=self.attention,
        )

    def train_step(self, data):
        """One step on L_similarity; returns this step's loss terms and `finite`.

        A batch with non-finite images is skipped before the forward pass; a
        non-finite loss is not applied.
        """
        images = data["images"]
        images = images if isinstance(images, (tuple, list)) else [images]
        return distribute.skip_or_run(
            distribute.all_finite(images), lambda: self._train_step(data), self.loss_names
        )

    def _train_step(self, data):
        # Encode both modalities and score every caption against every image.
        with tf.GradientTape() as tape:
            terms = self.compute_losses(data, training=True)
            # Every replica holds the global loss: each contributes 1/R of its gradient.
            scaled = self.optimizer.scale_loss(distribute.for_gradient(terms["similarity_loss"]))
        # One optimizer for both encoders: they are trained jointly.
        variables = self.trainable_variables
        gradients = tape.gradient(scaled, variables)
        is_finite = distribute.all_replicas(tf.math.is_finite(terms["similarity_loss"]))
        distribute.apply_gradients_if(self.optimizer, gradients, variables, is_finite)
        results = {name: terms[name] for name in self.loss_names}
        results["finite"] = is_finite
        return results

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "text_encoder": keras.layers.serialize(self.text_encoder),
                "image_encoder": keras.layers.serialize(self.image_encoder),
                "gamma1": self.gamma1,
                "gamma2": self.gamma2,
                "gamma3": self.gamma3,
                "similarity": self.similarity,
                "attention": self.attention,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["text_encoder"] = keras.layers.deserialize(config["text_encoder"])
        config["image_encoder"] = keras.layers.deserialize(config["image_encoder"])
        return cls(**config)
