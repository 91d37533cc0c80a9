"""Configuration of the networks: encoders, similarity, generator, discriminators."""

import dataclasses

REGION_LAYERS = ("mixed2", "mixed6", "mixed7")
SIMILARITY_MODES = ("t2i", "i2t", "both")
# How words and regions attend to each other in L_similarity (`losses.cross_attention`).
SIMILARITY_ATTENTION = ("attngan", "cosine")
EMBEDDING_MODES = ("trainable", "projected", "projected_offsets", "table_and_projected")
UNSEEN_WORDS_MODES = (
    "none",
    "vectors",
    "vectors_and_colours",
    "vectors_colours_and_senses",
    "vectors_colours_senses_and_images",
)
# Attributes the discriminators' auxiliary heads can predict (embedded data).
AUXILIARY_ATTRIBUTES = ("class", "colour", "pattern")
# `image_encoder_weights` value: a trunk pretrained on the run's training images.
PRETRAIN_TRUNK = "pretrain"


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Sizes and hyper-parameters of every network.

    Args:
        embedding_dim: word embedding size of the text encoder.
        joint_dim: D, the joint text-image feature size. The bi-LSTM has
            `joint_dim // 2` units per direction.
        text_dropout: dropout on the word embeddings while the text encoder
            trains (AttnGAN's RNN encoder: 0.5).
        word_vectors_path: pretrained word vectors: `"glove-6b-50d"` (the
            PyPI package), a directory of one `.npy` matrix and one
            `.parquet` word index, or a text file of `word v1 v2 ...` lines;
            `""` for none (see `fashion_t2i.text.word_vectors`).
        embedding_mode: how the word embedding uses the vectors:
            `"trainable"`: one table of `embedding_dim`, trained, starting
            from the vectors when they are given (then of size
            `embedding_dim`); `"projected"`: the vectors stay frozen and a
            trained linear map takes them to `embedding_dim`, so words never
            seen in training keep a usable representation;
            `"projected_offsets"`: as `"projected"`, plus a trained per-word
            offset added to the vectors (words of the training captions move,
            the others keep their vector); `"table_and_projected"`: a trained
            table as in `"trainable"` plus the frozen vectors through a
            trained map that starts at zero (training starts as with the
            table alone; words no caption used read through the map). All but
            `"trainable"` need `word_vectors_path`.
        word_table_dropout: in `"table_and_projected"`, the rate at which
            training leaves a word's table row out, so that the encoder also
            learns to read words through the vectors alone (as it reads words
            no caption used).
        unseen_words: in `"table_and_projected"`, what the vocabulary's words
            that no training caption used read as once the DAMSM has trained
            (`fashion_t2i.text.unseen_words`): `"none"` (their vector through
            the trained map, plus their untrained table row), `"vectors"` (the
            training words nearest in the vectors), `"vectors_and_colours"`
            (the same, and colour names read as the training colour names
            nearest in colour), `"vectors_colours_and_senses"` (the same,
            and colour and garment words read as the training words their
            WordNet senses name, `fashion_t2i.text.word_senses`) or
            `"vectors_colours_senses_and_images"` (the same, and with colour
            ids in the data a colour name is compared with the colour of the
            training images each training word names, not with the word's
            colour in the table).
        word_vectors_dim: size of the vectors in the modes other than `"trainable"` (50 for
            `"glove-6b-50d"`); checked against the vectors when a run starts.
        region_layer: InceptionV3 tap for region features. Keras `mixed7` is
            TF-slim's `Mixed_6e` (the seed's layer, 17x17x768 at 299 px);
            Keras `mixed6` is `Mixed_6d`; Keras `mixed2` is `Mixed_5d`
            (35x35x288 at 299 px, 7x7 at 75 px), an earlier layer whose
            cells see a smaller part of the image.
        image_encoder_size: input size of InceptionV3 (>= 75). 299 is the
            original; smaller sizes give fewer regions and cost less.
        image_encoder_weights: `"imagenet"`, a path to a weights file,
            `"pretrain"` for a trunk first trained on the attributes of the
            run's training images (`TrunkConfig`, kept in
            `<workdir>/image_trunk/`), or `""` for random initialisation.
            Pretrained trunks (all but `""`) are frozen.
        train_image_trunk: train the InceptionV3 trunk in the DAMSM phase.
            Ignored (always frozen) when pretrained weights are loaded.
        image_encoder_batch_norm_momentum: momentum of the trunk's batch
            normalisation when it is trained (Keras' InceptionV3 default
            0.99 lags far behind weights trained from scratch).
        gamma1: sharpness of the attention over regions (AttnGAN: 4).
        similarity_attention: `"attngan"` (the seed's: a softmax over the
            words of each region, then gamma1 times it through a softmax over
            the regions) or `"cosine"` (SCAN's: a softmax over the regions of
            gamma1 times the cosine of word and region).
        gamma2: weight of the most relevant word in R(E, V) (AttnGAN: 5).
        gamma3: scale of the batch softmax over pair scores (AttnGAN: 10).
        similarity: which attention directions enter L_similarity:
            `"t2i"` (words attend to regions), `"i2t"` (regions attend to
            words) or `"both"`.
        z_dim: noise size.
        condition_dim: size of the conditioning-augmentation code c.
        gf_dim: generator width (channels at the stage-1 output is gf_dim).
        df_dim: discriminator width.
        auxiliary_attributes: attributes of the embedded data (`"class"`,
            `"colour"`, `"pattern"`) that every D_k also predicts with an
            auxiliary head (AC-GAN), trained with
            `TrainConfig.auxiliary_weight`; the data must carry their ids.
            Empty (the seed): no heads.
        stage1_size: image size drawn by stage 1 (must be 4 * 2**k).
        num_refinement_stages: stages after stage 1; each doubles the size.
            The seed uses one (two stages in all), AttnGAN two.
        residual_blocks: residual blocks in each refinement stage.
    """

    embedding_dim: int = 300
    joint_dim: int = 256
    text_dropout: float = 0.0
    word_vectors_path: str = ""
    embedding_mode: str = "trainable"
    word_vectors_dim: int = 50
    word_table_dropout: float = 0.0
    unseen_words: str = "none"
    region_layer: str = "mixed7"
    image_encoder_size: int = 299
    image_encoder_weights: str = ""
    train_image_trunk: bool = True
    image_encoder_batch_norm_momentum: float = 0.9
    gamma1: float = 4.0
    gamma2: float = 5.0
    gamma3: float = 10.0
    similarity: str = "t2i"
    similarity_attention: str = "attngan"
    z_dim: int = 100
    condition_dim: int = 100
    gf_dim: int = 32
    df_dim: int = 64
    auxiliary_attributes: tuple = ()
    stage1_size: int = 64
    num_refinement_stages: int = 1
    residual_blocks: int = 2

    def __post_init__(self):
        if self.region_layer not in REGION_LAYERS:
            raise ValueError(
                f"ModelConfig.region_layer must be one of {REGION_LAYERS}, "
                f"got {self.region_layer!r}."
            )
        if self.similarity not in SIMILARITY_MODES:
            raise ValueError(
                f"ModelConfig.similarity must be one of {SIMILARITY_MODES}, "
                f"got {self.similarity!r}."
            )
        if self.similarity_attention not in SIMILARITY_ATTENTION:
            raise ValueError(
                f"ModelConfig.similarity_attention must be one of {SIMILARITY_ATTENTION}, "
                f"got {self.similarity_attention!r}."
            )
        if self.embedding_mode not in EMBEDDING_MODES:
            raise ValueError(
                f"ModelConfig.embedding_mode must be one of {EMBEDDING_MODES}, "
                f"got {self.embedding_mode!r}."
            )
        if self.embedding_mode != "trainable" and not self.word_vectors_path:
            raise ValueError(
                f"ModelConfig.embedding_mode={self.embedding_mode!r} needs word vectors: "
                "set word_vectors_path (--word_vectors)."
            )
        if not 0.0 <= self.word_table_dropout < 1.0:
            raise ValueError(
                "ModelConfig.word_table_dropout must be in [0, 1), "
                f"got {self.word_table_dropout}."
            )
        if self.word_table_dropout and self.embedding_mode != "table_and_projected":
            raise ValueError(
                "ModelConfig.word_table_dropout needs embedding_mode='table_and_projected', "
                f"got {self.embedding_mode!r}."
            )
        if self.unseen_words not in UNSEEN_WORDS_MODES:
            raise ValueError(
                f"ModelConfig.unseen_words must be one of {UNSEEN_WORDS_MODES}, "
                f"got {self.unseen_words!r}."
            )
        if self.unseen_words != "none" and self.embedding_mode != "table_and_projected":
            raise ValueError(
                "ModelConfig.unseen_words needs embedding_mode='table_and_projected', "
                f"got {self.embedding_mode!r}."
            )
        if self.word_vectors_dim < 1:
            raise ValueError(
                f"ModelConfig.word_vectors_dim must be >= 1, got {self.word_vectors_dim}."
            )
        if not 0.0 <= self.text_dropout < 1.0:
            raise ValueError(f"ModelConfig.text_dropout must be in [0, 1), got {self.text_dropout}.")
        if self.joint_dim % 2:
            raise ValueError(f"ModelConfig.joint_dim must be even, got {self.joint_dim}.")
        if self.image_encoder_size < 75:
            raise ValueError(
                "ModelConfig.image_encoder_size must be >= 75 (InceptionV3's "
                f"minimum), got {self.image_encoder_size}."
            )
        size = self.stage1_size
        while size > 4 and size % 2 == 0:
            size //= 2
        if size != 4:
            raise ValueError(
                f"ModelConfig.stage1_size must be 4 * 2**k, got {self.stage1_size}."
            )
        if self.num_refinement_stages < 0:
            raise ValueError("ModelConfig.num_refinement_stages must be >= 0.")
        # JSON gives a list; a frozen config compares and hashes tuples.
        object.__setattr__(self, "auxiliary_attributes", tuple(self.auxiliary_attributes))
        unknown = set(self.auxiliary_attributes) - set(AUXILIARY_ATTRIBUTES)
        if unknown or len(set(self.auxiliary_attributes)) != len(self.auxiliary_attributes):
            raise ValueError(
                f"ModelConfig.auxiliary_attributes must be distinct names of "
                f"{AUXILIARY_ATTRIBUTES}, got {self.auxiliary_attributes!r}."
            )

    @property
    def stage_sizes(self):
        """Image size of every stage, stage 1 first."""
        return tuple(self.stage1_size * 2**k for k in range(self.num_refinement_stages + 1))
