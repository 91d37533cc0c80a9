"""`python -m fashion_t2i.train`: trains the DAMSM encoders, then the GAN.

Flags build a `Config` from a named preset; a flag left unset keeps the
preset's value. The config is written to `<workdir>/config.json`, and
re-running the same command resumes from the latest checkpoints.
"""

import sys

from absl import app
from absl import flags
from absl import logging

from fashion_t2i.config import PRESETS, get_preset
from fashion_t2i.config.data_config import BAD_CAPTION_POLICIES, ENCODINGS
from fashion_t2i.config.model_config import (
    AUXILIARY_ATTRIBUTES,
    EMBEDDING_MODES,
    REGION_LAYERS,
    SIMILARITY_ATTENTION,
    SIMILARITY_MODES,
    UNSEEN_WORDS_MODES,
)
from fashion_t2i.config.runtime_config import MIXED_PRECISION, STRATEGIES
from fashion_t2i.config.train_config import NAN_POLICIES, PHASES
from fashion_t2i.config.trunk_config import TRUNK_ATTRIBUTES

FLAGS = flags.FLAGS

flags.DEFINE_enum("preset", "demo", sorted(PRESETS), "Named configuration to start from.")
flags.DEFINE_string("workdir", "runs/demo", "Checkpoints, logs, vocabulary and config go here.")
flags.DEFINE_enum("phase", None, PHASES, "damsm, gan, or all (damsm then gan).")
flags.DEFINE_string("train_path", None, "Fashion-Gen schema HDF5 training file.")
flags.DEFINE_string("validation_path", None, "Fashion-Gen schema HDF5 validation file.")
flags.DEFINE_string(
    "data_dir", None, "Where the embedded Fashion-MNIST data is built (without --train_path)."
)
flags.DEFINE_enum("encoding", None, ENCODINGS, "Caption encoding of the HDF5 files.")
flags.DEFINE_enum("on_bad_caption", None, BAD_CAPTION_POLICIES, "Unusable captions: error or skip.")
flags.DEFINE_integer("batch_size", None, "Global batch size.")
flags.DEFINE_integer("seed", None, "Seed of shuffling, augmentation and the embedded data.")
flags.DEFINE_bool("deterministic", None, "Deterministic input order and augmentation.")
flags.DEFINE_bool("augment", None, "Random crop and flip of training images (AttnGAN).")
flags.DEFINE_integer("damsm_steps", None, "Steps of the DAMSM phase.")
flags.DEFINE_integer("gan_steps", None, "Steps of the GAN phase.")
flags.DEFINE_float("damsm_learning_rate", None, "Adam learning rate of the encoders.")
flags.DEFINE_float("generator_learning_rate", None, "Adam learning rate of the generator.")
flags.DEFINE_float("discriminator_learning_rate", None, "Adam learning rate of the discriminators.")
flags.DEFINE_float("similarity_weight", None, "lambda of L_similarity in the generator loss.")
flags.DEFINE_float("kl_weight", None, "Weight of the conditioning-augmentation KL term.")
flags.DEFINE_float(
    "mode_seeking_weight", None,
    "Weight of the mode-seeking term (MSGAN) in the generator loss; 0 turns it off.",
)
flags.DEFINE_list(
    "auxiliary_attributes", None,
    f"Attributes every discriminator also predicts (AC-GAN heads), of "
    f"{list(AUXILIARY_ATTRIBUTES)}; the data must have their ids (the embedded data does). "
    "Empty for none.",
)
flags.DEFINE_float(
    "auxiliary_weight", None, "Weight of the auxiliary heads' loss in L_D and L_G."
)
flags.DEFINE_bool("mismatch_term", None, "Real image with a wrong caption as a negative of D.")
flags.DEFINE_bool(
    "hard_mismatch", None, "Also the closest caption of the batch that shows something else."
)
flags.DEFINE_integer("checkpoint_every", None, "Steps between checkpoints.")
flags.DEFINE_integer("log_every", None, "Steps between progress lines and scalar summaries.")
flags.DEFINE_integer("image_every", None, "Steps between image summaries (0: none).")
flags.DEFINE_integer(
    "eval_every", None, "Steps between validation evaluations (0: none, not even at the end)."
)
flags.DEFINE_enum("on_nan", None, NAN_POLICIES, "Non-finite loss: stop, or skip the batch.")
flags.DEFINE_string(
    "image_encoder_weights", None,
    "InceptionV3 weights: 'imagenet', a local weights file, 'pretrain' (trained on the "
    "attributes of the run's training images first, then frozen), or '' for random.",
)
flags.DEFINE_integer(
    "image_encoder_size", None,
    "InceptionV3 input size (>= 75): mixed7 gives 3x3 regions at 75 px, 7x7 at 139, 17x17 at 299.",
)
flags.DEFINE_integer("trunk_steps", None, "Steps of the trunk pretraining ('pretrain').")
flags.DEFINE_list(
    "trunk_attributes", None,
    f"Attribute heads of the trunk pretraining, of {list(TRUNK_ATTRIBUTES)}.",
)
flags.DEFINE_enum("region_layer", None, REGION_LAYERS, "InceptionV3 region tap (mixed7 = Mixed_6e).")
flags.DEFINE_enum("similarity", None, SIMILARITY_MODES, "Attention directions of L_similarity.")
flags.DEFINE_enum(
    "similarity_attention", None, SIMILARITY_ATTENTION,
    "How words and regions attend to each other in L_similarity: attngan (softmax over words, "
    "then over regions) or cosine (one softmax over regions of gamma1 x cosine).",
)
flags.DEFINE_float("gamma1", None, "Sharpness of the word-region attention (AttnGAN: 4).")
flags.DEFINE_string(
    "word_vectors", None,
    "Pretrained word vectors: 'glove-6b-50d' (PyPI package), a directory of one .npy and one "
    ".parquet file, a GloVe-style text file, or '' for none.",
)
flags.DEFINE_enum(
    "embedding_mode", None, EMBEDDING_MODES,
    "Word embedding: trainable table, or frozen vectors with a trained projection "
    "(and per-word offsets).",
)
flags.DEFINE_integer("word_vectors_dim", None, "Size of the word vectors in the projected modes.")
flags.DEFINE_float(
    "word_table_dropout", None,
    "table_and_projected: rate at which training leaves a word's table row out.",
)
flags.DEFINE_enum(
    "unseen_words", None, UNSEEN_WORDS_MODES,
    "table_and_projected: what words no training caption used read as after the DAMSM phase: "
    "none, the nearest training words in the vectors, that and colour names by colour, "
    "that and colour and garment words by their WordNet senses, or all that with colour names "
    "compared with the colour of the training images (data with colour ids).",
)
flags.DEFINE_integer(
    "pretrained_words", None,
    "Most frequent words of the word vectors added to the vocabulary (0: none).",
)
flags.DEFINE_enum(
    "strategy", None, STRATEGIES,
    "tf.distribute strategy: default (one device), mirrored (local GPUs or CPU devices), "
    "multi_worker (cluster from TF_CONFIG) or tpu.",
)
flags.DEFINE_string("tpu", None, "TPU name or grpc:// address for --strategy=tpu.")
flags.DEFINE_enum(
    "mixed_precision", None, MIXED_PRECISION,
    "Compute precision: off (float32), bfloat16, or float16 with loss scaling.",
)
flags.DEFINE_bool("jit_compile", None, "Compile the training steps with XLA.")
flags.DEFINE_integer(
    "num_cpu_devices", None, "Split the CPU into this many logical devices (for mirrored)."
)

# flag name -> (config section, field)
_OVERRIDES = {
    "phase": ("train", "phase"),
    "train_path": ("data", "train_path"),
    "validation_path": ("data", "validation_path"),
    "data_dir": ("data", "fashion_mnist_dir"),
    "encoding": ("data", "encoding"),
    "on_bad_caption": ("data", "on_bad_caption"),
    "batch_size": ("data", "batch_size"),
    "seed": ("data", "seed"),
    "deterministic": ("data", "deterministic"),
    "augment": ("data", "augment"),
    "damsm_steps": ("train", "damsm_steps"),
    "gan_steps": ("train", "gan_steps"),
    "damsm_learning_rate": ("train", "damsm_learning_rate"),
    "generator_learning_rate": ("train", "generator_learning_rate"),
    "discriminator_learning_rate": ("train", "discriminator_learning_rate"),
    "similarity_weight": ("train", "similarity_weight"),
    "kl_weight": ("train", "kl_weight"),
    "mode_seeking_weight": ("train", "mode_seeking_weight"),
    "auxiliary_attributes": ("model", "auxiliary_attributes"),
    "auxiliary_weight": ("train", "auxiliary_weight"),
    "mismatch_term": ("train", "mismatch_term"),
    "hard_mismatch": ("train", "hard_mismatch"),
    "checkpoint_every": ("train", "checkpoint_every"),
    "log_every": ("train", "log_every"),
    "image_every": ("train", "image_every"),
    "eval_every": ("train", "eval_every"),
    "on_nan": ("train", "on_nan"),
    "image_encoder_weights": ("model", "image_encoder_weights"),
    "image_encoder_size": ("model", "image_encoder_size"),
    "trunk_steps": ("trunk", "steps"),
    "trunk_attributes": ("trunk", "attributes"),
    "region_layer": ("model", "region_layer"),
    "similarity": ("model", "similarity"),
    "similarity_attention": ("model", "similarity_attention"),
    "gamma1": ("model", "gamma1"),
    "word_vectors": ("model", "word_vectors_path"),
    "embedding_mode": ("model", "embedding_mode"),
    "word_vectors_dim": ("model", "word_vectors_dim"),
    "word_table_dropout": ("model", "word_table_dropout"),
    "unseen_words": ("model", "unseen_words"),
    "pretrained_words": ("text", "pretrained_words"),
    "strategy": ("runtime", "strategy"),
    "tpu": ("runtime", "tpu"),
    "mixed_precision": ("runtime", "mixed_precision"),
    "jit_compile": ("runtime", "jit_compile"),
    "num_cpu_devices": ("runtime", "num_cpu_devices"),
}


def config_from_flags():
    """The preset with every flag that was set applied on top."""
    sections = {}
    for flag, (section, field) in _OVERRIDES.items():
        value = getattr(FLAGS, flag)
        if value is not None:
            sections.setdefault(section, {})[field] = value
    return get_preset(FLAGS.preset).replace(**sections)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if not FLAGS["verbosity"].present:
        # TensorFlow's checkpoint saver logs a line at INFO on every save.
        logging.set_verbosity(logging.WARNING)
    from fashion_t2i import train_lib
    from fashion_t2i.training_loop import NonFiniteLossError

    try:
        config = config_from_flags()
    except ValueError as e:
        raise app.UsageError(str(e))
    try:
        train_lib.train(config, FLAGS.workdir)
    except (FileNotFoundError, PermissionError, ValueError, NonFiniteLossError) as e:
        # Errors a user can cause (paths, data, config, divergence): a message, not a trace.
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(app.run(main))
