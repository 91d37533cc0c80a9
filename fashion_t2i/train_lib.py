"""Training logic of both phases; `train.py` is the thin flags layer over it."""

import dataclasses
import os

import keras
import numpy as np
import tensorflow as tf

from fashion_t2i import checkpointing
from fashion_t2i import distribute
from fashion_t2i import evaluation
from fashion_t2i import files
from fashion_t2i import losses
from fashion_t2i import visualization
from fashion_t2i.config import Config
from fashion_t2i.data.fashion_gen_reader import FashionGenReader
from fashion_t2i.data.build_fashion_mnist_lib import FashionMnistBuilder
from fashion_t2i.data.input_pipeline import InputPipeline
from fashion_t2i.metrics import r_precision as r_precision_lib
from fashion_t2i.models.attn_gan import AttnGAN
from fashion_t2i.models.damsm import DAMSM
from fashion_t2i.text import vocabulary as vocabulary_lib
from fashion_t2i.text import word_vectors
from fashion_t2i.text.tokenizer import Tokenizer
from fashion_t2i.training_loop import TrainingLoop
from fashion_t2i.training_loop import log

# Config sections that change what the checkpoints hold: resuming with
# other values would restore into different networks.
ARCHITECTURE_SECTIONS = ("text", "model")
NUM_CANDIDATES = 100
R_PRECISION_EXAMPLES = 1000
ATTENTION_PAIRS = 4
SAMPLE_CAPTIONS = 8
EVAL_IMAGES = 256
# Validation batches (of the training batch size) of the L_similarity evaluation.
SIMILARITY_BATCHES = 8


def resolve_data(config):
    """Fills in the embedded Fashion-MNIST data when no HDF5 paths are given.

    Builds it (a no-op when up to date) and returns the config with
    `train_path` / `validation_path` pointing at it.
    """
    data = config.data
    if data.train_path and data.validation_path:
        return config
    if data.train_path or data.validation_path:
        raise ValueError(
            "Give both --train_path and --validation_path, or neither for the embedded data."
        )
    builder = FashionMnistBuilder.from_config(data)
    builder.build()
    return config.replace(
        data={"train_path": builder.train_path, "validation_path": builder.validation_path}
    )


def check_workdir(config, workdir):
    """Creates `workdir`, refuses a config whose architecture differs from the saved one.

    Raises:
        PermissionError: `workdir` cannot be written.
        ValueError: `workdir/config.json` has other `text` or `model` values.
    """
    try:
        os.makedirs(workdir, exist_ok=True)
        probe = os.path.join(workdir, ".write_test")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as e:
        raise PermissionError(f"Cannot write to workdir {workdir}: {e}") from e
    path = os.path.join(workdir, "config.json")
    if os.path.exists(path):
        saved = Config.load(path)
        changed = [
            f"{section}.{name}: {getattr(getattr(saved, section), name)!r} -> "
            f"{getattr(getattr(config, section), name)!r}"
            for section in ARCHITECTURE_SECTIONS
            for name in (f.name for f in dataclasses.fields(getattr(config, section)))
            if getattr(getattr(saved, section), name) != getattr(getattr(config, section), name)
        ]
        if changed:
            raise ValueError(
                f"{workdir} holds a run with another architecture ({'; '.join(changed)}). "
                "Use a new --workdir, or the same preset and flags to resume."
            )
    config.save(workdir)


def prepare_vocabulary(workdir, reader, text_config):
    """Builds `workdir/vocabulary.txt` from the training captions once; returns its path."""
    path = os.path.join(workdir, vocabulary_lib.FILENAME)
    if not os.path.exists(path):
        tokens = vocabulary_lib.build_vocabulary(
            reader.captions(), text_config.min_count, text_config.max_vocab
        )
        vocabulary_lib.save_vocabulary(tokens, path)
    return path


class RunContext:
    """Readers, tokenizer and pipelines of one run (built once, shared by the phases)."""

    def __init__(self, config, workdir, strategy=None):
        config = resolve_data(config)
        check_workdir(config, workdir)
        self.config = config
        self.workdir = workdir
        self.strategy = strategy or tf.distribute.get_strategy()
        data = config.data
        self.train_reader = FashionGenReader.from_config(data.train_path, data)
        self.validation_reader = FashionGenReader.from_config(data.validation_path, data)
        for name, reader in (("train", self.train_reader), ("validation", self.validation_reader)):
            if reader.skipped:
                log(f"data: skipped {reader.skipped} {name} examples with unusable captions")
        self.vocabulary_path = prepare_vocabulary(workdir, self.train_reader, config.text)
        self.tokenizer = Tokenizer(self.vocabulary_path, config.text.max_words)
        self.stage_sizes = config.model.stage_sizes

    def train_batches(self, seed_offset=0):
        """An endless iterator of global training batches, split over the replicas.

        tf.data cannot checkpoint a generator's position, so a resumed run
        passes its start step as `seed_offset`: it draws a fresh shuffle
        instead of replaying the batches the interrupted run already saw.
        """
        data = dataclasses.replace(self.config.data, seed=self.config.data.seed + seed_offset)
        pipeline = InputPipeline(self.train_reader, self.tokenizer, self.stage_sizes, data)
        return distribute.distribute_batches(self.strategy, pipeline.dataset())

    def validation_dataset(self, batch_size=None):
        pipeline = InputPipeline(
            self.validation_reader, self.tokenizer, self.stage_sizes, self.config.data,
            training=False,
        )
        return pipeline.dataset(repeat=False, batch_size=batch_size)

    def fixed_validation_batch(self, size):
        return next(iter(self.validation_dataset(batch_size=size)))


def make_optimizer(config, learning_rate, **adam_args):
    """Adam, wrapped in a dynamic `LossScaleOptimizer` under float16 precision."""
    optimizer = keras.optimizers.Adam(learning_rate, **adam_args)
    if config.runtime.mixed_precision == "float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def build_damsm(config, vocabulary_size, tokens=None):
    """The DAMSM of `config`, built, with pretrained word vectors if configured.

    Call it inside the strategy's scope; with several replicas its batch
    normalisation uses global batch statistics.
    """
    initializer = "uniform"
    if config.model.word_vectors_path:
        matrix = word_vectors.load_word_vectors(
            config.model.word_vectors_path, tokens, config.model.embedding_dim
        )
        initializer = keras.initializers.Constant(matrix)
    damsm = DAMSM.from_model_config(config.model, vocabulary_size, initializer)
    size = config.model.stage_sizes[-1]
    damsm(
        {
            "images": tf.zeros([1, size, size, 3]),
            "token_ids": tf.ones([1, config.text.max_words], tf.int32),
        }
    )
    distribute.synchronize_batch_norm(damsm)
    return damsm


def encode_validation(damsm, dataset, max_examples):
    """Global image and sentence features of up to `max_examples` validation pairs."""
    images, sentences, keys = [], [], []
    count = 0
    for batch in dataset:
        features = damsm(batch, training=False)
        images.append(features["global_feature"].numpy())
        sentences.append(features["sentence_feature"].numpy())
        keys.append(batch["content_id"].numpy())
        count += len(keys[-1])
        if count >= max_examples:
            break
    return (
        np.concatenate(images)[:max_examples],
        np.concatenate(sentences)[:max_examples],
        np.concatenate(keys)[:max_examples],
    )


def r_precision(image_features, sentence_features, content_ids, seed=0):
    """AttnGAN R-precision: the true caption ranked first among 100 candidates.

    The 99 wrong candidates are captions of examples with other content
    (another product; on the embedded data another class/colour/pattern
    combination), so a caption that says the same thing is never a "wrong"
    answer.
    """
    candidate_sets = r_precision_lib.sample_candidates(
        len(content_ids), NUM_CANDIDATES, content_ids, rng=seed
    )
    scores = r_precision_lib.candidate_scores(image_features, sentence_features, candidate_sets)
    return r_precision_lib.r_precision(scores)


def damsm_attention(damsm, batch, config):
    """Word-over-region attention of each fixed pair: [B, T, h, w], and the regions' side."""
    features = damsm(batch, training=False)
    word_mask = tf.not_equal(batch["token_ids"], 0)
    _, alpha = losses.word_region_scores(
        features["word_features"],
        word_mask,
        features["region_features"],
        config.model.gamma1,
        config.model.gamma2,
    )
    alpha = tf.linalg.diag_part(tf.transpose(alpha, [2, 3, 0, 1]))  # [T, N, B]
    alpha = tf.transpose(alpha, [2, 0, 1]).numpy()
    side = int(round(np.sqrt(alpha.shape[-1])))
    return alpha.reshape(alpha.shape[0], alpha.shape[1], side, side)


def write_attention_summary(name, images, attention, tokens, lengths, step, writer):
    num_words = min(int(attention.shape[1]), 6)
    grid = visualization.image_grid(
        visualization.attention_overlays(images, attention, num_words)
    )
    words = [
        " ".join(t.decode("utf-8") for t in row[:n]) for row, n in zip(tokens, lengths)
    ]
    with writer.as_default(step=step):
        tf.summary.image(name, grid[None], max_outputs=1)
        tf.summary.text(name + "/captions", tf.constant(words))


def train_damsm(context, log_fn=log):
    """Phase 1: trains the text and image encoders with L_similarity.

    Returns:
        `(damsm, summary)` where summary holds the last losses and the final
        validation R-precision.
    """
    config = context.config
    train = config.train
    with context.strategy.scope():
        damsm = build_damsm(
            config, context.tokenizer.vocabulary_size, context.tokenizer.tokens
        )
        optimizer = make_optimizer(config, train.damsm_learning_rate)
        damsm.compile(optimizer=optimizer)
        optimizer.build(damsm.trainable_variables)
        step = tf.Variable(0, dtype=tf.int64)
    checkpoint = damsm_checkpoint(damsm, optimizer=optimizer, step=step)
    step_fn = distribute.step_function(context.strategy, damsm, config.runtime.jit_compile)

    fixed = context.fixed_validation_batch(ATTENTION_PAIRS)
    fixed_tokens = context.tokenizer.detokenize(fixed["token_ids"]).numpy()
    results = {}

    def evaluate(step, writer):
        features = encode_validation(
            damsm, context.validation_dataset(), R_PRECISION_EXAMPLES
        )
        value = r_precision(*features, seed=config.data.seed)
        results["r_precision"] = value
        with writer.as_default(step=step):
            tf.summary.scalar("eval/r_precision", value)
        log_fn(f"[damsm] step {step}  validation R-precision (top-1 of 100) {value:.3f}")

    def attention_images(step, writer):
        attention = damsm_attention(damsm, fixed, config)
        write_attention_summary(
            "damsm/attention", fixed["images"][-1].numpy(), attention, fixed_tokens,
            fixed["lengths"].numpy(), step, writer,
        )

    loop = phase_loop(
        "damsm", step_fn, checkpoint, context, train.damsm_steps,
        hooks=[(train.eval_every, evaluate), (train.image_every, attention_images)],
        learning_rates={"damsm": lambda: optimizer.learning_rate},
        log_fn=log_fn,
    )
    summary = loop.run(context.train_batches)
    summary.update(results)
    return damsm, summary


def write_summary(workdir, name, summary):
    files.write_json(os.path.join(workdir, f"{name}_summary.json"), summary)


def phase_loop(name, step_fn, checkpoint, context, total_steps, hooks, learning_rates, log_fn):
    """The `TrainingLoop` of a phase, with the run's checkpoint and logging cadence."""
    train = context.config.train
    return TrainingLoop(
        name,
        step_fn,
        checkpoint,
        context.workdir,
        total_steps,
        train.checkpoint_every,
        train.log_every,
        max_checkpoints=train.max_checkpoints,
        on_nan=train.on_nan,
        hooks=hooks,
        learning_rates=learning_rates,
        log_fn=log_fn,
    )


def damsm_checkpoint(damsm, **extra):
    """The DAMSM phase's checkpoint: both encoders (and `extra` objects)."""
    return checkpointing.variable_checkpoint(
        text_encoder=damsm.text_encoder, image_encoder=damsm.image_encoder, **extra
    )


def restore_damsm(config, workdir, tokenizer):
    """The trained DAMSM of `workdir` (latest DAMSM checkpoint).

    Raises:
        FileNotFoundError: the DAMSM phase has not run in `workdir`.
    """
    damsm = build_damsm(config, tokenizer.vocabulary_size)
    latest = tf.train.latest_checkpoint(os.path.join(workdir, "damsm"))
    if latest is None:
        raise FileNotFoundError(
            f"No DAMSM checkpoint in {workdir}/damsm: run --phase=damsm (or --phase=all) first."
        )
    checkpointing.restore(damsm_checkpoint(damsm), latest)
    return damsm


def gan_checkpoint(gan, step):
    """The GAN phase's checkpoint: every network, optimizer, the EMA and the noise state."""
    items = {
        "generator": gan.generator,
        "generator_ema": gan.generator_ema,
        "text_encoder": gan.text_encoder,
        "image_encoder": gan.image_encoder,
        "generator_optimizer": gan.generator_optimizer,
        "seed_generator_state": gan.seed_generator.state,
        "step": step,
    }
    for k, (discriminator, optimizer) in enumerate(
        zip(gan.discriminators, gan.discriminator_optimizers)
    ):
        items[f"discriminator{k + 1}"] = discriminator
        items[f"discriminator{k + 1}_optimizer"] = optimizer
    return checkpointing.variable_checkpoint(**items)


def build_gan(config, damsm):
    """The compiled, fully built GAN of `config` around a trained DAMSM.

    Call it inside the strategy's scope (see `build_damsm`).
    """
    train = config.train
    gan = AttnGAN.from_config_and_damsm(config, damsm)
    betas = {"beta_1": train.beta_1, "beta_2": train.beta_2}
    gan.compile(
        generator_optimizer=make_optimizer(config, train.generator_learning_rate, **betas),
        discriminator_optimizers=[
            make_optimizer(config, train.discriminator_learning_rate, **betas)
            for _ in gan.discriminators
        ],
    )
    gan.build_all(config.data.batch_size, config.text.max_words)
    distribute.synchronize_batch_norm(gan)
    return gan


def restore_gan(config, workdir, tokenizer):
    """The trained GAN of `workdir` (latest GAN checkpoint) and its step.

    Raises:
        FileNotFoundError: the GAN phase has not run in `workdir`.
    """
    latest = tf.train.latest_checkpoint(os.path.join(workdir, "gan"))
    if latest is None:
        raise FileNotFoundError(
            f"No GAN checkpoint in {workdir}/gan: run --phase=gan (or --phase=all) first."
        )
    gan = build_gan(config, restore_damsm(config, workdir, tokenizer))
    step = tf.Variable(0, dtype=tf.int64)
    checkpointing.restore(gan_checkpoint(gan, step), latest)
    return gan, int(step.numpy())


def sample_images(gan, token_ids, noise, condition_noise):
    """Every stage's EMA image for fixed inputs, and the refinement attention."""
    inputs = gan.generator_inputs(token_ids, noise, condition_noise)
    outputs = gan.generator_ema(inputs, training=False)
    return [x.numpy() for x in outputs["images"]], [a.numpy() for a in outputs["attention"]]


def sample_grid(stage_images, real_images=None):
    """One row per caption: every stage resized to the final size, then the real image."""
    final = stage_images[-1].shape[1]
    columns = [
        tf.image.resize(x, [final, final], "nearest").numpy() for x in stage_images
    ]
    if real_images is not None:
        columns.append(np.asarray(real_images))
    return visualization.image_grid(visualization.to_uint8(np.stack(columns, axis=1)))


def attribute_evaluation_hook(context, gan, log_fn=log, num_images=EVAL_IMAGES):
    """A hook that scores the EMA generator's images of fixed validation captions.

    The attribute classifier (trained once on real images, cached in the
    workdir) reads class, colour and pattern of images generated from
    `num_images` validation captions with fixed noise; the accuracies go to
    TensorBoard as `eval/<attribute>_accuracy`.
    """
    size = context.stage_sizes[-1]
    num_images = min(num_images, context.validation_reader.num_examples)
    classifier, real_accuracy = evaluation.attribute_classifier(
        context.workdir, context.train_reader, context.validation_reader, size,
        seed=context.config.data.seed, log_fn=log_fn,
    )
    examples = evaluation.read_examples(context.validation_reader, num_images)
    token_ids, _ = context.tokenizer(tf.constant(evaluation.decode_captions(examples)))
    labels = evaluation.attribute_labels(examples)
    rng = np.random.default_rng(context.config.data.seed + 1)
    noise = rng.standard_normal((num_images, gan.generator.z_dim)).astype(np.float32)
    condition_noise = rng.standard_normal((num_images, gan.generator.condition_dim))
    condition_noise = condition_noise.astype(np.float32)

    def hook(step, writer):
        images = np.concatenate(
            [
                sample_images(
                    gan, token_ids[i : i + 64], noise[i : i + 64], condition_noise[i : i + 64]
                )[0][-1]
                for i in range(0, num_images, 64)
            ]
        )
        accuracy = evaluation.attribute_metrics(classifier, images, labels)
        with writer.as_default(step=step):
            for name, value in accuracy.items():
                tf.summary.scalar(f"eval/{name}_accuracy", value)
                tf.summary.scalar(f"eval/{name}_accuracy_real", real_accuracy[name])
        shown = "  ".join(f"{k} {v:.3f}" for k, v in sorted(accuracy.items()))
        log_fn(f"[gan] step {step}  attribute accuracy of generated images: {shown}")

    return hook


def similarity_evaluation_hook(context, gan, log_fn=log, num_batches=SIMILARITY_BATCHES):
    """A hook that measures L_similarity of the EMA generator's images of validation captions.

    The first `num_batches` validation batches, each of the training batch
    size (the loss's negatives are the other captions of the batch), with
    fixed noise; the mean goes to TensorBoard as `eval/similarity_loss`.
    With lambda = 0 the training step does not compute the term at all, and
    this is where it is measured.
    """
    batch_size = context.config.data.batch_size
    batches = []
    for batch in context.validation_dataset(batch_size=batch_size).take(num_batches):
        batches.append({key: batch[key] for key in ("token_ids", "content_id")})
    rng = np.random.default_rng(context.config.data.seed + 2)
    noises = [
        (
            rng.standard_normal((batch_size, gan.generator.z_dim)).astype(np.float32),
            rng.standard_normal((batch_size, gan.generator.condition_dim)).astype(np.float32),
        )
        for _ in batches
    ]

    def hook(step, writer):
        values = []
        for batch, (noise, condition_noise) in zip(batches, noises):
            images = sample_images(gan, batch["token_ids"], noise, condition_noise)[0][-1]
            loss = gan.similarity_loss(
                tf.constant(images), batch["token_ids"], batch["content_id"]
            )
            values.append(float(loss))
        value = float(np.mean(values))
        with writer.as_default(step=step):
            tf.summary.scalar("eval/similarity_loss", value)
        log_fn(
            f"[gan] step {step}  L_similarity of generated images, "
            f"{len(values) * batch_size} validation captions: {value:.4f}"
        )

    return hook


def train_gan(context, log_fn=log):
    """Phase 2: trains the generator and discriminators with the encoders frozen."""
    config, workdir = context.config, context.workdir
    train = config.train
    with context.strategy.scope():
        damsm = restore_damsm(config, workdir, context.tokenizer)
        gan = build_gan(config, damsm)
        step = tf.Variable(0, dtype=tf.int64)
    checkpoint = gan_checkpoint(gan, step)
    step_fn = distribute.step_function(context.strategy, gan, config.runtime.jit_compile)

    fixed = context.fixed_validation_batch(SAMPLE_CAPTIONS)
    fixed_tokens = context.tokenizer.detokenize(fixed["token_ids"]).numpy()
    rng = np.random.default_rng(config.data.seed)
    noise = rng.standard_normal((SAMPLE_CAPTIONS, config.model.z_dim)).astype(np.float32)
    condition_noise = np.zeros((SAMPLE_CAPTIONS, config.model.condition_dim), np.float32)

    def image_summaries(step_value, writer):
        stage_images, attention = sample_images(
            gan, fixed["token_ids"], noise, condition_noise
        )
        grid = sample_grid(stage_images, fixed["images"][-1].numpy())
        with writer.as_default(step=step_value):
            tf.summary.image("gan/samples", grid[None], max_outputs=1)
        if attention:
            write_attention_summary(
                "gan/attention", stage_images[-1], attention[-1], fixed_tokens,
                fixed["lengths"].numpy(), step_value, writer,
            )

    hooks = [
        (train.image_every, image_summaries),
        (train.eval_every, similarity_evaluation_hook(context, gan, log_fn)),
    ]
    if context.train_reader.has_attributes and context.validation_reader.has_attributes:
        hooks.append((train.eval_every, attribute_evaluation_hook(context, gan, log_fn)))

    loop = phase_loop(
        "gan", step_fn, checkpoint, context, train.gan_steps,
        hooks=hooks,
        learning_rates={
            "generator": lambda: gan.generator_optimizer.learning_rate,
            "discriminator": lambda: gan.discriminator_optimizers[0].learning_rate,
        },
        log_fn=log_fn,
    )
    summary = loop.run(context.train_batches)
    summary["skipped_steps"] = loop.skipped_steps
    return gan, summary


def train(config, workdir, log_fn=log):
    """Runs the configured phase(s) in `workdir`; returns the summaries by phase."""
    distribute.configure(config.runtime)
    strategy = distribute.make_strategy(config.runtime)
    replicas = strategy.num_replicas_in_sync
    if config.data.batch_size % replicas:
        raise ValueError(
            f"batch_size {config.data.batch_size} is the global batch: it must be divisible "
            f"by the number of replicas ({replicas})."
        )
    context = RunContext(config, workdir, strategy)
    log_fn(
        f"train: preset {config.preset}, phase {config.train.phase}, workdir {workdir}, "
        f"{context.train_reader.num_examples} training / "
        f"{context.validation_reader.num_examples} validation examples, "
        f"vocabulary {context.tokenizer.vocabulary_size}, "
        f"{strategy.num_replicas_in_sync} replica(s) ({config.runtime.strategy}), "
        f"precision {config.runtime.mixed_precision}, XLA {config.runtime.jit_compile}"
    )
    summaries = {}
    if config.train.phase in ("damsm", "all"):
        _, summaries["damsm"] = train_damsm(context, log_fn)
        write_summary(workdir, "damsm", summaries["damsm"])
        if summaries["damsm"]["stopped_by_signal"]:
            return summaries
    if config.train.phase in ("gan", "all"):
        _, summaries["gan"] = train_gan(context, log_fn)
        write_summary(workdir, "gan", summaries["gan"])
    return summaries
