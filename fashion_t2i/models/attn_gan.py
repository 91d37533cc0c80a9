"""The stacked attention GAN: custom `train_step` over generator and discriminators."""

import keras
import tensorflow as tf

from fashion_t2i import distribute
from fashion_t2i import losses
from fashion_t2i.data.attributes import ATTRIBUTE_HEADS
from fashion_t2i.models.generator import Generator
from fashion_t2i.models.negatives import closest_mismatch


@keras.saving.register_keras_serializable(package="fashion_t2i")
class AttnGAN(keras.Model):
    """Trains G = (G1, G2, ...) against one D_k per stage, with frozen DAMSM encoders.

    L_G = sum_k L_Gk + lambda * L_similarity(x_hat, caption) + kl_weight * KL
          (+ mode_seeking_weight * L_ms, MSGAN, when set)
          (+ auxiliary_weight * sum_k,a CE(D_k head a(x_hat), caption's a),
          AC-GAN, when the discriminators have attribute heads),
    L_Dk as the seed (plus the mismatched pair when `mismatch_term`; with
    `hard_mismatch` a second mismatched caption per real image, the closest
    of the batch that shows something else, see `closest_mismatch`; plus
    auxiliary_weight * the heads' CE on real images, when set). Each
    network has its own optimizer. An exponential moving average of the
    generator weights (`generator_ema`) is what evaluation and export use.

    Args:
        generator: a `Generator`.
        discriminators: one `Discriminator` per stage, smallest first.
        text_encoder: trained `TextEncoder` (frozen here).
        image_encoder: trained `ImageEncoder` (frozen here).
        similarity_weight: lambda.
        kl_weight: weight of the conditioning-augmentation KL term.
        mode_seeking_weight: weight of MSGAN's mode-seeking term; at 0 (the
            seed's loss) the second draw it needs is not made.
        auxiliary_weight: weight of the AC-GAN heads' loss; > 0 needs
            discriminators with attribute heads and their ids in the data
            (`class_id`, ...).
        mismatch_term: add D(real image, wrong caption) as a negative.
        hard_mismatch: also D(real image, closest other caption of the batch).
        ema_decay: decay of the generator EMA.
        gamma1, gamma2, gamma3, similarity, attention: as in `DAMSM`.
        seed: seed of the noise generator.
    """

    def __init__(
        self,
        generator,
        discriminators,
        text_encoder,
        image_encoder,
        similarity_weight=5.0,
        kl_weight=1.0,
        mode_seeking_weight=0.0,
        auxiliary_weight=0.0,
        mismatch_term=True,
        hard_mismatch=False,
        ema_decay=0.999,
        gamma1=4.0,
        gamma2=5.0,
        gamma3=10.0,
        similarity="t2i",
        attention="attngan",
        seed=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminators = list(discriminators)
        self.text_encoder = text_encoder
        self.image_encoder = image_encoder
        self.text_encoder.trainable = False
        self.image_encoder.trainable = False
        self.similarity_weight = similarity_weight
        self.kl_weight = kl_weight
        self.mode_seeking_weight = mode_seeking_weight
        self.auxiliary_weight = auxiliary_weight
        if auxiliary_weight and not all(d.attribute_heads for d in self.discriminators):
            raise ValueError(
                "auxiliary_weight > 0 needs discriminators with attribute heads "
                "(ModelConfig.auxiliary_attributes)."
            )
        self.mismatch_term = mismatch_term
        self.hard_mismatch = hard_mismatch
        self.ema_decay = ema_decay
        self.gamma1 = gamma1
        self.gamma2 = gamma2
        self.gamma3 = gamma3
        self.similarity = similarity
        self.attention = attention
        self.seed = seed
        self.generator_ema = Generator.from_config(generator.get_config())
        self.generator_ema.trainable = False
        self.seed_generator = keras.random.SeedGenerator(seed, name="noise_seed")
        num_stages = len(self.discriminators)
        # L_similarity is a loss term (and logged) only when lambda > 0; its
        # value at lambda = 0 is measured outside training (`similarity_loss`).
        self.loss_names = (
            ["generator_loss", "kl_loss"]
            + (["similarity_loss"] if similarity_weight else [])
            + (["mode_seeking_loss"] if mode_seeking_weight else [])
            + (["generator_auxiliary_loss", "discriminator_auxiliary_loss"]
               if auxiliary_weight else [])
            + [f"generator_adversarial_loss_{k + 1}" for k in range(num_stages)]
            + [f"discriminator_loss_{k + 1}" for k in range(num_stages)]
        )

    def compile(self, generator_optimizer, discriminator_optimizers, **kwargs):
        # optimizer=None: Keras would otherwise build an unused default optimizer.
        super().compile(optimizer=None, **kwargs)
        if len(discriminator_optimizers) != len(self.discriminators):
            raise ValueError(
                f"Need one optimizer per discriminator ({len(self.discriminators)}), "
                f"got {len(discriminator_optimizers)}."
            )
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizers = list(discriminator_optimizers)
        if self.built:
            self._build_optimizers()

    def build_networks(self, batch_size, max_words):
        """Creates every network variable (generator, EMA copy, discriminators).

        Checkpoint restore and `tf.function` tracing need the variables to
        exist first; `train_step` never builds the wrapper model itself. The
        EMA starts as a copy of the generator. `compile` (before or after)
        creates the optimizer slots.
        """
        inputs = self.generator.dummy_inputs(batch_size, max_words, self.text_encoder.joint_dim)
        outputs = self.generator(inputs)
        self.generator_ema(inputs)
        sentence = inputs["sentence_feature"]
        for images, discriminator in zip(outputs["images"], self.discriminators):
            discriminator(images, sentence, sentence)
        self.copy_to_ema()
        self.built = True
        if getattr(self, "generator_optimizer", None) is not None:
            self._build_optimizers()

    def _build_optimizers(self):
        self.generator_optimizer.build(self.generator.trainable_variables)
        for optimizer, discriminator in zip(self.discriminator_optimizers, self.discriminators):
            optimizer.build(discriminator.trainable_variables)

    def copy_to_ema(self):
        for ema, weight in zip(self.generator_ema.weights, self.generator.weights):
            ema.assign(weight)

    def update_ema(self):
        """ema = d * ema + (1 - d) * w, with d = min(ema_decay, (1 + n) / (10 + n)).

        n counts the generator updates: the warm-up (as in
        `tf.train.ExponentialMovingAverage` with `num_updates`) keeps the
        average from being dominated by the random initial weights in short
        runs.
        """
        n = tf.cast(self.generator_optimizer.iterations, tf.float32)
        decay = tf.minimum(self.ema_decay, (1.0 + n) / (10.0 + n))
        for ema, weight in zip(self.generator_ema.weights, self.generator.weights):
            ema.assign(decay * ema + (1.0 - decay) * weight)

    def encode_text(self, token_ids):
        """Frozen e and e_bar, float32 whatever the compute precision."""
        word_features, sentence_feature = self.text_encoder(token_ids, training=False)
        return (
            tf.stop_gradient(tf.cast(word_features, tf.float32)),
            tf.stop_gradient(tf.cast(sentence_feature, tf.float32)),
        )

    def _normal(self, batch, dim):
        # Drawn for the global batch and sliced, so that a replica's noise is
        # the noise its examples would get on one device.
        values = keras.random.normal(
            (distribute.global_batch_size(batch), dim), seed=self.seed_generator
        )
        return distribute.replica_slice(values, batch)

    def generator_inputs(self, token_ids, noise=None, condition_noise=None):
        """Generator inputs for a batch of token ids; noise drawn when not given."""
        word_features, sentence_feature = self.encode_text(token_ids)
        batch = tf.shape(token_ids)[0]
        if noise is None:
            noise = self._normal(batch, self.generator.z_dim)
        if condition_noise is None:
            condition_noise = self._normal(batch, self.generator.condition_dim)
        return Generator.inputs(
            word_features, sentence_feature, tf.not_equal(token_ids, 0), noise, condition_noise
        )

    def call(self, token_ids, training=False):
        """Images of the EMA generator for token ids (fresh noise)."""
        return self.generator_ema(self.generator_inputs(token_ids), training=False)

    def train_step(self, data):
        """One D step per stage then one G step; returns this step's losses and `finite`.

        A batch with non-finite images is skipped before any forward pass; a
        non-finite loss skips that network's update (and the EMA with G's),
        and any non-finite loss puts the batch-normalisation statistics of
        G and every D back as they were before the step.
        """
        return distribute.skip_or_run(
            distribute.all_finite(data["images"]), lambda: self._train_step(data), self.loss_names
        )

    def _train_step(self, data):
        # Under a distribution strategy this runs on every replica with its
        # share of the batch; see `fashion_t2i.distribute` for how the
        # losses and the logged values match one device's.
        real_images = data["images"]
        content_ids = data["content_id"]
        auxiliary = self.auxiliary_weight > 0
        if auxiliary:
            self._check_attribute_ids(data)
        # Encode text with the frozen DAMSM text encoder: e, e_bar (and the wrong caption's).
        inputs = self.generator_inputs(data["token_ids"])
        _, wrong_sentence = self.encode_text(data["wrong_token_ids"])
        sentence = inputs["sentence_feature"]
        wrong = wrong_sentence if self.mismatch_term else None
        if self.mismatch_term and self.hard_mismatch:
            # Chosen among the captions of the global batch, as on one device.
            candidates = (distribute.all_gather(sentence), distribute.all_gather(content_ids))
            wrong = [
                wrong_sentence,
                closest_mismatch(sentence, content_ids, wrong_sentence, candidates),
            ]
        # The batch-normalisation statistics the forward passes will write, as
        # they are: a step whose losses are not finite puts them back.
        statistics = self.generator.non_trainable_variables + [
            v for d in self.discriminators for v in d.non_trainable_variables
        ]
        saved_statistics = [tf.identity(v) for v in statistics]
        with tf.GradientTape() as generator_tape:
            # Generate every stage: h1 = G1(z, e_bar), x_hat = G2(h1, e).
            outputs = self.generator(inputs, training=True)
        fakes = outputs["images"]

        # D steps: each D_k on (real, fake, real with the wrong caption).
        terms = {}
        discriminators_finite = tf.constant(True)
        d_auxiliary = []
        for k, discriminator in enumerate(self.discriminators):
            optimizer = self.discriminator_optimizers[k]
            with tf.GradientTape() as tape:
                real, real_cond, wrong_cond, *real_heads = discriminator(
                    real_images[k], sentence, wrong, training=True,
                    return_attribute_logits=auxiliary,
                )
                fake, fake_cond, _ = discriminator(
                    tf.stop_gradient(fakes[k]), sentence, training=True
                )
                d_loss = losses.discriminator_loss(real, real_cond, fake, fake_cond, wrong_cond)
                if auxiliary:
                    d_auxiliary.append(self._auxiliary_loss(real_heads[0], data))
                    d_loss += self.auxiliary_weight * d_auxiliary[-1]
                scaled = optimizer.scale_loss(distribute.for_gradient(d_loss))
            gradients = tape.gradient(scaled, discriminator.trainable_variables)
            d_finite = distribute.all_replicas(tf.math.is_finite(d_loss))
            distribute.apply_gradients_if(
                optimizer, gradients, discriminator.trainable_variables, d_finite
            )
            discriminators_finite = discriminators_finite & d_finite
            terms[f"discriminator_loss_{k + 1}"] = distribute.mean_over_replicas(d_loss)

        # G step: fool every D_k, match the caption (L_similarity), stay near N(0, I) (KL).
        with generator_tape:
            adversarial = []
            g_auxiliary = []
            for k, discriminator in enumerate(self.discriminators):
                fake, fake_cond, _, *fake_heads = discriminator(
                    fakes[k], sentence, training=True, return_attribute_logits=auxiliary
                )
                adversarial.append(losses.generator_adversarial_loss(fake, fake_cond))
                if auxiliary:
                    g_auxiliary.append(self._auxiliary_loss(fake_heads[0], data))
            kl = losses.kl_loss(
                tf.cast(outputs["mu"], tf.float32), tf.cast(outputs["log_variance"], tf.float32)
            )
            g_loss = tf.add_n(adversarial) + self.kl_weight * kl
            if self.similarity_weight:
                similarity = self._similarity(fakes[-1], inputs, sentence, content_ids)
                g_loss += self.similarity_weight * similarity
            if self.mode_seeking_weight:
                mode_seeking = self._mode_seeking(inputs, fakes)
                g_loss += self.mode_seeking_weight * mode_seeking
            if auxiliary:
                g_loss += self.auxiliary_weight * tf.add_n(g_auxiliary)
            scaled = self.generator_optimizer.scale_loss(distribute.for_gradient(g_loss))
        variables = self.generator.trainable_variables
        gradients = generator_tape.gradient(scaled, variables)
        all_finite = discriminators_finite & distribute.all_replicas(tf.math.is_finite(g_loss))
        # The EMA of the generator weights (the exported generator) follows G's updates.
        distribute.apply_gradients_if(
            self.generator_optimizer, gradients, variables, all_finite, after=self.update_ema
        )
        distribute.restore_unless(all_finite, statistics, saved_statistics)

        mean = distribute.mean_over_replicas
        for k, value in enumerate(adversarial):
            terms[f"generator_adversarial_loss_{k + 1}"] = mean(value)
        terms.update({"generator_loss": mean(g_loss), "kl_loss": mean(kl)})
        if self.similarity_weight:
            terms["similarity_loss"] = similarity
        if self.mode_seeking_weight:
            terms["mode_seeking_loss"] = mean(mode_seeking)
        if auxiliary:
            # Summed over heads and stages, as they enter L_G and the L_Dk.
            terms["generator_auxiliary_loss"] = mean(tf.add_n(g_auxiliary))
            terms["discriminator_auxiliary_loss"] = mean(tf.add_n(d_auxiliary))
        results = {name: terms[name] for name in self.loss_names}
        results["finite"] = all_finite
        return results

    def _check_attribute_ids(self, data):
        missing = [
            ATTRIBUTE_HEADS[name][0]
            for name in self.discriminators[0].attribute_heads
            if ATTRIBUTE_HEADS[name][0] not in data
        ]
        if missing:
            raise ValueError(
                f"auxiliary_weight > 0 needs the attribute ids {missing} in the data; "
                "these training files have none."
            )

    def _auxiliary_loss(self, head_logits, data):
        """Sum over a discriminator's heads of their cross-entropy with the batch's ids."""
        return tf.add_n(
            [
                losses.class_loss(logits, data[ATTRIBUTE_HEADS[name][0]])
                for name, logits in head_logits.items()
            ]
        )

    def _mode_seeking(self, inputs, fakes):
        """L_ms of the batch's first half drawn again with fresh noise, mean over stages."""
        half = tf.shape(inputs["noise"])[0] // 2
        first = {name: value[:half] for name, value in inputs.items()}
        again = dict(
            first,
            noise=self._normal(half, self.generator.z_dim),
            condition_noise=self._normal(half, self.generator.condition_dim),
        )
        images = self.generator(again, training=True)["images"]
        noise_a = tf.concat([first["noise"], first["condition_noise"]], axis=-1)
        noise_b = tf.concat([again["noise"], again["condition_noise"]], axis=-1)
        return tf.add_n(
            [
                losses.mode_seeking_loss(
                    tf.cast(fake[:half], tf.float32), tf.cast(image, tf.float32),
                    noise_a, noise_b,
                )
                for fake, image in zip(fakes, images)
            ]
        ) / len(fakes)

    def similarity_loss(self, images, token_ids, content_ids=None):
        """L_similarity of images and captions through the frozen DAMSM encoders.

        What the generator loss weighs by lambda, for any images (e.g. the
        EMA generator's on validation captions); every caption of the batch
        is compared with every image.

        Args:
            images: [B, s, s, 3] in [-1, 1] at the final stage size.
            token_ids: int32 [B, T] of the captions.
            content_ids: optional [B]; equal ids are not negatives of each other.

        Returns:
            The scalar loss.
        """
        word_features, sentence = self.encode_text(token_ids)
        inputs = {"word_features": word_features, "word_mask": tf.not_equal(token_ids, 0)}
        return self._similarity(images, inputs, sentence, content_ids)

    def _similarity(self, images, inputs, sentence, content_ids):
        """L_similarity of generated images and their captions over the global batch."""
        region_features, global_feature = self.image_encoder(images, training=False)
        # Every caption against every image of the global batch.
        gather = distribute.all_gather
        return losses.similarity_loss(
            gather(inputs["word_features"]), gather(sentence), gather(inputs["word_mask"]),
            gather(tf.cast(region_features, tf.float32)),
            gather(tf.cast(global_feature, tf.float32)),
            gamma1=self.gamma1, gamma2=self.gamma2, gamma3=self.gamma3,
            mode=self.similarity, content_ids=None if content_ids is None else gather(content_ids),
            attention=self.attention,
        )["similarity_loss"]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "generator": keras.layers.serialize(self.generator),
                "discriminators": [keras.layers.serialize(d) for d in self.discriminators],
                "text_encoder": keras.layers.serialize(self.text_encoder),
                "image_encoder": keras.layers.serialize(self.image_encoder),
                "similarity_weight": self.similarity_weight,
                "kl_weight": self.kl_weight,
                "mode_seeking_weight": self.mode_seeking_weight,
                "auxiliary_weight": self.auxiliary_weight,
                "mismatch_term": self.mismatch_term,
                "hard_mismatch": self.hard_mismatch,
                "ema_decay": self.ema_decay,
                "gamma1": self.gamma1,
                "gamma2": self.gamma2,
                "gamma3": self.gamma3,
                "similarity": self.similarity,
                "attention": self.attention,
                "seed": self.seed,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("generator", "text_encoder", "image_encoder"):
            config[key] = keras.layers.deserialize(config[key])
        config["discriminators"] = [keras.layers.deserialize(d) for d in config["discriminators"]]
        return cls(**config)
