"""One place that builds each network of a run from its `ModelConfig`.

Training (`train_lib`), opening a finished run (`RunContext`), the served
graph (`TextToImage`) and the benchmarks all build their networks here, so a
network can never be built two ways.
"""

import keras
import tensorflow as tf

from fashion_t2i import distribute
from fashion_t2i.config.model_config import PRETRAIN_TRUNK
from fashion_t2i.data.attributes import ATTRIBUTE_HEADS
from fashion_t2i.models.attn_gan import AttnGAN
from fashion_t2i.models.damsm import DAMSM
from fashion_t2i.models.discriminator import Discriminator
from fashion_t2i.models.generator import Generator
from fashion_t2i.models.image_encoder import ImageEncoder
from fashion_t2i.models.text_encoder import TextEncoder
from fashion_t2i.text import word_vectors


def text_encoder(model_config, vocabulary_size, tokens=None):
    """The bi-LSTM `TextEncoder`, its embedding read from the word vectors if set.

    Args:
        model_config: a `ModelConfig`.
        vocabulary_size: number of token ids.
        tokens: the vocabulary (list of strings); needed only to look the
            tokens up in `model_config.word_vectors_path`. Without it the
            embedding starts random, as it does for a network whose weights
            (the frozen vectors too) are restored from a checkpoint anyway.
    """
    projected = model_config.embedding_mode != "trainable"
    initializer = "uniform"
    if model_config.word_vectors_path and tokens is not None:
        matrix = word_vectors.load_word_vectors(
            model_config.word_vectors_path,
            tokens,
            model_config.word_vectors_dim if projected else model_config.embedding_dim,
            dim_name="word_vectors_dim (--word_vectors_dim)" if projected else "embedding_dim",
        )
        initializer = keras.initializers.Constant(matrix)
    return TextEncoder(
        vocabulary_size,
        embedding_dim=model_config.embedding_dim,
        joint_dim=model_config.joint_dim,
        dropout=model_config.text_dropout,
        embeddings_initializer=initializer,
        pretrained_dim=model_config.word_vectors_dim if projected else 0,
        word_offsets=model_config.embedding_mode == "projected_offsets",
        word_table=model_config.embedding_mode == "table_and_projected",
        word_table_dropout=model_config.word_table_dropout,
        name="text_encoder",
    )


def image_encoder(model_config, trunk_weights=None):
    """The InceptionV3 `ImageEncoder` (region and global taps).

    Args:
        model_config: a `ModelConfig`.
        trunk_weights: with `image_encoder_weights="pretrain"`, the run's
            pretrained trunk (`image_trunk.ensure_trunk`). Without it the
            frozen trunk starts random, as it does for a network whose
            weights are restored from a checkpoint anyway.
    """
    weights = model_config.image_encoder_weights or None
    train_trunk = model_config.train_image_trunk
    if weights == PRETRAIN_TRUNK:
        weights, train_trunk = trunk_weights, False
    return ImageEncoder(
        joint_dim=model_config.joint_dim,
        region_layer=model_config.region_layer,
        input_size=model_config.image_encoder_size,
        weights=weights,
        train_trunk=train_trunk,
        batch_norm_momentum=model_config.image_encoder_batch_norm_momentum,
        name="image_encoder",
    )


def generator(model_config, name="generator"):
    """The stacked `Generator` (stage 1 and the refinement stages)."""
    return Generator(
        z_dim=model_config.z_dim,
        condition_dim=model_config.condition_dim,
        gf_dim=model_config.gf_dim,
        stage1_size=model_config.stage1_size,
        num_refinement_stages=model_config.num_refinement_stages,
        residual_blocks=model_config.residual_blocks,
        name=name,
    )


def discriminators(model_config):
    """One `Discriminator` per stage size, smallest first."""
    return [
        Discriminator(
            size, model_config.df_dim, model_config.joint_dim,
            attribute_heads={
                name: ATTRIBUTE_HEADS[name][1] for name in model_config.auxiliary_attributes
            },
            name=f"discriminator{k + 1}",
        )
        for k, size in enumerate(model_config.stage_sizes)
    ]


def damsm(config, vocabulary_size, tokens=None, trunk_weights=None):
    """The built `DAMSM` of a run `Config` (both encoders, every variable created).

    `tokens` and `trunk_weights` start the encoders from the word vectors and
    the run's pretrained trunk (see `text_encoder`, `image_encoder`). Call it
    inside the strategy's scope; with several replicas its batch
    normalisation uses global batch statistics.
    """
    model = config.model
    result = DAMSM(
        text_encoder(model, vocabulary_size, tokens),
        image_encoder(model, trunk_weights),
        gamma1=model.gamma1,
        gamma2=model.gamma2,
        gamma3=model.gamma3,
        similarity=model.similarity,
        attention=model.similarity_attention,
        name="damsm",
    )
    size = model.stage_sizes[-1]
    result(
        {
            "images": tf.zeros([1, size, size, 3]),
            "token_ids": tf.ones([1, config.text.max_words], tf.int32),
        }
    )
    distribute.synchronize_batch_norm(result)
    return result


def gan(config, trained_damsm):
    """The built `AttnGAN` of a run `Config` around a `DAMSM` (whose encoders it freezes).

    Every network variable exists on return (generator, its EMA copy,
    discriminators); the optimizers come with `AttnGAN.compile`. Call it
    inside the strategy's scope (see `damsm`).
    """
    model, train = config.model, config.train
    result = AttnGAN(
        generator(model),
        discriminators(model),
        trained_damsm.text_encoder,
        trained_damsm.image_encoder,
        similarity_weight=train.similarity_weight,
        kl_weight=train.kl_weight,
        mode_seeking_weight=train.mode_seeking_weight,
        auxiliary_weight=train.auxiliary_weight if model.auxiliary_attributes else 0.0,
        mismatch_term=train.mismatch_term,
        hard_mismatch=train.hard_mismatch,
        ema_decay=train.ema_decay,
        gamma1=model.gamma1,
        gamma2=model.gamma2,
        gamma3=model.gamma3,
        similarity=model.similarity,
        attention=model.similarity_attention,
        seed=config.data.seed,
        name="attn_gan",
    )
    result.build_networks(config.data.batch_size, config.text.max_words)
    distribute.synchronize_batch_norm(result)
    return result
