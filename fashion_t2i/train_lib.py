"""The two training phases; `train.py` is the thin flags layer over them.

Phase 1 (`train_damsm`) trains the text and image encoders on the seed's
L_similarity; phase 2 (`train_gan`) trains the generator and the
discriminators with the encoders frozen. Opening the run lives in
`run_context`, the networks in `networks`, what training shows of itself in
`evaluation_hooks`.
"""

import os

import keras
import tensorflow as tf

from fashion_t2i import checkpointing
from fashion_t2i import distribute
from fashion_t2i import evaluation_hooks
from fashion_t2i import files
from fashion_t2i import networks
from fashion_t2i.progress import log
from fashion_t2i.run_context import RunContext
from fashion_t2i.text import unseen_words
from fashion_t2i.training_loop import TrainingLoop


def make_optimizer(config, learning_rate, **adam_args):
    """Adam, wrapped in a dynamic `LossScaleOptimizer` under float16 precision."""
    optimizer = keras.optimizers.Adam(learning_rate, **adam_args)
    if config.runtime.mixed_precision == "float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def compiled_damsm(config, vocabulary_size, tokens=None, trunk_weights=None):
    """The DAMSM of phase 1 with its optimizer (one Adam over both encoders), built.

    Call it inside the strategy's scope.
    """
    damsm = networks.damsm(config, vocabulary_size, tokens, trunk_weights)
    optimizer = make_optimizer(config, config.train.damsm_learning_rate)
    damsm.compile(optimizer=optimizer)
    optimizer.build(damsm.trainable_variables)
    return damsm


def compiled_gan(config, damsm):
    """The GAN of phase 2 around a trained DAMSM, with one Adam per network, built.

    Call it inside the strategy's scope.
    """
    train = config.train
    gan = networks.gan(config, damsm)
    betas = {"beta_1": train.beta_1, "beta_2": train.beta_2}
    gan.compile(
        generator_optimizer=make_optimizer(config, train.generator_learning_rate, **betas),
        discriminator_optimizers=[
            make_optimizer(config, train.discriminator_learning_rate, **betas)
            for _ in gan.discriminators
        ],
    )
    return gan


def phase_loop(name, model, checkpoint, context, total_steps, hooks, learning_rates, log_fn):
    """The `TrainingLoop` of a phase, with the run's checkpoint and logging cadence."""
    train = context.config.train
    return TrainingLoop(
        name,
        distribute.step_function(context.strategy, model, context.config.runtime.jit_compile),
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


def unseen_words_hook(context, text_encoder, phase, log_fn=log):
    """A hook that fills the unseen words of `text_encoder` (`ModelConfig.unseen_words`), or None.

    The words of the vocabulary that no training caption uses get the
    embeddings of the training words nearest to them
    (`text.unseen_words.fill_unseen_words`; with attribute ids in the data,
    a colour name reads only as training words that name one colour,
    `one_colour_words`; with `"vectors_colours_and_senses"` a colour or
    garment word reads first as the training word its WordNet synonyms name,
    `text.word_senses`; with `"vectors_colours_senses_and_images"` a colour
    name is compared with the colour of the training images each source
    names, `image_colours`). Their table rows get no
    gradient, so filling them between steps does not change training; the
    DAMSM phase fills them before each evaluation and once more at its end.
    The GAN phase starts from the filled DAMSM and fills its own (frozen)
    copy of the text encoder at its end too, so that a run trained before
    the words were filled gets them by being resumed with `unseen_words` set;
    it saves its checkpoint again only then (the hook returns whether the
    table changed).
    What each word reads as is written to `<workdir>/unseen_words.json`
    (`text.unseen_words.read_as`).
    """
    mode = context.config.model.unseen_words
    if mode == "none":
        return None
    # Every word of the training captions, cut or not from the vocabulary's
    # first part (a word below min_count may still be one of the vectors').
    use_colours = mode != "vectors"
    use_senses = mode in ("vectors_colours_and_senses", "vectors_colours_senses_and_images")
    seen, colour_sources = unseen_words.training_words(
        context.train_reader, one_colour_sources=use_colours
    )
    source_colours = None
    if mode == "vectors_colours_senses_and_images" and colour_sources is not None:
        source_colours = unseen_words.image_colours(context.train_reader, colour_sources)
        log_fn(
            f"[{phase}] colour names compared with the colour of the training images of "
            f"{len(source_colours)} training words"
        )
    written = False

    def hook(step=None, writer=None):
        """Fills the words; returns whether the text encoder's table changed."""
        nonlocal written
        read_as, changed = unseen_words.fill_unseen_words(
            text_encoder, context.tokenizer.tokens, seen,
            use_colours=use_colours, colour_sources=colour_sources,
            use_senses=use_senses, source_colours=source_colours,
        )
        if not written:
            written = True
            files.write_json(
                os.path.join(context.workdir, unseen_words.READ_AS_FILENAME),
                {"unseen_words": mode, "read_as": read_as},
            )
            log_fn(
                f"[{phase}] {len(read_as)} words no training caption uses read as the "
                f"training words nearest to them (unseen_words={mode}; "
                f"{unseen_words.READ_AS_FILENAME} lists them)"
            )
        return changed

    return hook


def train_damsm(context, log_fn=log):
    """Phase 1: trains the text and image encoders with L_similarity.

    Returns:
        `(damsm, summary)` where summary holds the last losses and the final
        validation R-precision.
    """
    config = context.config
    train = config.train
    trunk_weights = context.damsm_trunk_weights(log_fn)
    with context.strategy.scope():
        damsm = compiled_damsm(
            config, context.tokenizer.vocabulary_size, context.tokenizer.tokens,
            trunk_weights=trunk_weights,
        )
        step = tf.Variable(0, dtype=tf.int64)
    checkpoint = checkpointing.damsm_checkpoint(damsm, optimizer=damsm.optimizer, step=step)
    results = {}
    fill = unseen_words_hook(context, damsm.text_encoder, "damsm", log_fn)
    hooks = []
    if train.eval_every:
        if fill is not None:
            hooks.append((train.eval_every, fill))
        hooks.append(
            (
                train.eval_every,
                evaluation_hooks.damsm_r_precision_hook(context, damsm, results, log_fn),
            )
        )
    if train.image_every:
        hooks.append((train.image_every, evaluation_hooks.damsm_attention_hook(context, damsm)))
    loop = phase_loop(
        "damsm", damsm, checkpoint, context, train.damsm_steps, hooks,
        learning_rates={"damsm": lambda: damsm.optimizer.learning_rate},
        log_fn=log_fn,
    )
    summary = loop.run(context.train_batches)
    if fill is not None:
        # The last step was saved before its hooks ran.
        fill()
        loop.save()
    summary.update(results)
    return damsm, summary


def train_gan(context, log_fn=log):
    """Phase 2: trains the generator and discriminators with the encoders frozen."""
    config = context.config
    train = config.train
    with context.strategy.scope():
        gan = compiled_gan(config, context.restore_damsm())
        step = tf.Variable(0, dtype=tf.int64)
    checkpoint = checkpointing.gan_checkpoint(gan, step)
    hooks = []
    # Built only when they run: the attribute evaluation trains its classifier here.
    if train.image_every:
        hooks.append((train.image_every, evaluation_hooks.gan_samples_hook(context, gan)))
    if train.eval_every:
        hooks.append(
            (train.eval_every, evaluation_hooks.similarity_evaluation_hook(context, gan, log_fn))
        )
        variety = evaluation_hooks.variety_hook(context, gan, log_fn)
        if variety is not None:
            hooks.append((train.eval_every, variety))
        if context.train_reader.has_attributes and context.validation_reader.has_attributes:
            hooks.append(
                (
                    train.eval_every,
                    evaluation_hooks.attribute_evaluation_hook(context, gan, log_fn),
                )
            )
    loop = phase_loop(
        "gan", gan, checkpoint, context, train.gan_steps, hooks,
        learning_rates={
            "generator": lambda: gan.generator_optimizer.learning_rate,
            "discriminator": lambda: gan.discriminator_optimizers[0].learning_rate,
        },
        log_fn=log_fn,
    )
    summary = loop.run(context.train_batches)
    fill = unseen_words_hook(context, gan.text_encoder, "gan", log_fn)
    if fill is not None and fill():
        # A GAN trained on an unfilled DAMSM: its frozen copy was unfilled.
        loop.save()
    summary["skipped_steps"] = loop.skipped_steps
    return gan, summary


def write_summary(workdir, name, summary):
    files.write_json(os.path.join(workdir, f"{name}_summary.json"), summary)


def check_auxiliary_data(config, train_reader):
    """Raises ValueError before any step if the GAN phase needs attribute ids the data lacks.

    The discriminators' auxiliary heads (`ModelConfig.auxiliary_attributes`)
    learn from the data's class / colour / pattern ids, which only the
    embedded data has; without this check a run on other data would train
    its DAMSM first and fail at the first GAN step.
    """
    if (
        config.model.auxiliary_attributes
        and config.train.auxiliary_weight
        and config.train.phase in ("gan", "all")
        and not train_reader.has_attributes
    ):
        raise ValueError(
            f"auxiliary_attributes {list(config.model.auxiliary_attributes)} train the "
            "discriminators' heads on attribute ids, which only the embedded Fashion-MNIST "
            f"data has ({train_reader.path} has none); pass --auxiliary_attributes= for this "
            "data."
        )


def train(config, workdir, log_fn=log):
    """Runs the configured phase(s) in `workdir`; returns the summaries by phase.

    Raises:
        ValueError: the global batch does not split over the replicas, the
            run cannot be opened (see `RunContext.for_training`), the
            validation file is too small to evaluate
            (`evaluation_hooks.check_validation`), or the data lacks the
            ids of the auxiliary heads (`check_auxiliary_data`).
    """
    distribute.configure(config.runtime)
    strategy = distribute.make_strategy(config.runtime)
    replicas = strategy.num_replicas_in_sync
    if config.data.batch_size % replicas:
        raise ValueError(
            f"batch_size {config.data.batch_size} is the global batch: it must be divisible "
            f"by the number of replicas ({replicas})."
        )
    context = RunContext.for_training(config, workdir, strategy, log_fn)
    check_auxiliary_data(config, context.train_reader)
    # Before any step: an evaluation must not fail after the training it follows.
    if config.train.eval_every or config.train.image_every:
        evaluation_hooks.check_validation(context, log_fn)
    log_fn(
        f"train: preset {config.preset}, phase {config.train.phase}, workdir {workdir}, "
        f"{context.train_reader.num_examples} training / "
        f"{context.validation_reader.num_examples} validation examples, "
        f"vocabulary {context.tokenizer.vocabulary_size}, "
        f"{replicas} replica(s) ({config.runtime.strategy}), "
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
