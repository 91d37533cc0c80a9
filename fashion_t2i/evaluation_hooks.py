"""What training shows of itself: TensorBoard summaries and evaluations at a cadence.

Each function here returns a hook `fn(step, writer)` for `TrainingLoop`
(run every so many steps and at the end of a phase). The hooks read fixed
validation examples and fixed noise, so their numbers and pictures are
comparable from one step to the next.
"""

import numpy as np
import tensorflow as tf

from fashion_t2i import evaluation
from fashion_t2i import losses
from fashion_t2i import visualization
from fashion_t2i.data import schema
from fashion_t2i.data.attributes import content_id
from fashion_t2i.metrics import attention_localisation
from fashion_t2i.metrics import diversity
from fashion_t2i.metrics import r_precision as r_precision_lib
from fashion_t2i.progress import log

R_PRECISION_EXAMPLES = 1000
# Validation pairs per forward pass of `encode_validation`: the DAMSM runs
# eagerly there, so few large batches cost much less than many small ones
# (the smoke preset's 128 pairs in batches of 4: 26 s; of 64: about 5 s with the
# R-precision itself, on 2 cores).
ENCODE_BATCH_SIZE = 64
ATTENTION_PAIRS = 4
# Validation pairs over which the localisation of the attention is logged.
LOCALISATION_PAIRS = 128
SAMPLE_CAPTIONS = 8
EVAL_IMAGES = 256
# Validation batches (of the training batch size) of the L_similarity evaluation.
SIMILARITY_BATCHES = 8
# Variety during training: descriptions x seeds, real groups looked for among
# the first VARIETY_POOL validation examples.
VARIETY_DESCRIPTIONS = 16
VARIETY_SEEDS = 8
VARIETY_POOL = 2000
# Words whose attention maps are shown per caption.
SHOWN_WORDS = 6


def encode_validation(damsm, dataset, max_examples):
    """Features, content ids and caption sets of up to `max_examples` validation pairs.

    Returns:
        `(images, sentences, ids, sets)`: global image and sentence
        features, content ids, and `evaluation.caption_sets` of the pairs
        (`{}` when the data marks no held-out captions).
    """
    images, sentences, ids, marks = [], [], [], []
    count = 0
    # The same pairs as `dataset` gives, in fewer, larger forward passes.
    for batch in dataset.unbatch().batch(ENCODE_BATCH_SIZE):
        features = damsm(batch, training=False)
        images.append(features["global_feature"].numpy())
        sentences.append(features["sentence_feature"].numpy())
        ids.append(batch["content_id"].numpy())
        if schema.HELD_OUT in batch:
            marks.append(batch[schema.HELD_OUT].numpy())
        count += len(ids[-1])
        if count >= max_examples:
            break
    images, sentences, ids = (np.concatenate(x)[:max_examples] for x in (images, sentences, ids))
    sets = {}
    if marks:
        sets = evaluation.caption_sets({schema.HELD_OUT: np.concatenate(marks)[:max_examples]})
    return images, sentences, ids, sets


def damsm_attention(damsm, batch, config):
    """Word-over-region attention of each pair of `batch`: [B, T, h, w].

    Computed in float32 whatever the compute precision: a bfloat16 softmax
    sums to 1 only to about 1e-2, and the maps are measured and drawn.
    """
    features = damsm(batch, training=False)
    word_mask = tf.not_equal(batch["token_ids"], 0)
    _, alpha = losses.word_region_scores(
        tf.cast(features["word_features"], tf.float32),
        word_mask,
        tf.cast(features["region_features"], tf.float32),
        config.model.gamma1,
        config.model.gamma2,
        config.model.similarity_attention,
    )
    alpha = tf.linalg.diag_part(tf.transpose(alpha, [2, 3, 0, 1]))  # [T, N, B]
    alpha = tf.transpose(alpha, [2, 0, 1]).numpy()
    side = int(round(np.sqrt(alpha.shape[-1])))
    return alpha.reshape(alpha.shape[0], alpha.shape[1], side, side)


def damsm_attention_localisation(damsm, batch, config):
    """The maps of `damsm_attention` and how localised they are.

    Returns:
        `(attention, result)`: [B, T, h, w] maps and
        `attention_localisation.attention_localisation`'s dict, with the
        product regions read from the batch's final-stage images.
    """
    attention = damsm_attention(damsm, batch, config)
    masks = attention_localisation.region_masks(
        batch["images"][-1].numpy(), attention.shape[2:]
    )
    return attention, attention_localisation.attention_localisation(
        attention, batch["lengths"].numpy(), masks
    )


def write_attention_summary(name, images, attention, tokens, lengths, step, writer):
    """Images with the attention map of each of their first words, labelled with the word, and the captions."""
    num_words = min(int(attention.shape[1]), SHOWN_WORDS)
    labels = [row[:n] for row, n in zip(tokens, lengths)]
    grid = visualization.image_grid(
        visualization.attention_overlays(images, attention, num_words, words=labels)
    )
    words = [
        " ".join(t.decode("utf-8") for t in row[:n]) for row, n in zip(tokens, lengths)
    ]
    with writer.as_default(step=step):
        tf.summary.image(name, grid[None], max_outputs=1)
        tf.summary.text(name + "/captions", tf.constant(words))


def sample_images(gan, token_ids, noise, condition_noise):
    """Every stage's EMA image for fixed inputs, and the refinement attention."""
    inputs = gan.generator_inputs(token_ids, noise, condition_noise)
    outputs = gan.generator_ema(inputs, training=False)
    return [x.numpy() for x in outputs["images"]], [a.numpy() for a in outputs["attention"]]


def fixed_noise(gan, count, seed):
    """`(noise, condition_noise)` for `count` examples: standard normal, drawn from `seed`."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((count, gan.generator.z_dim)).astype(np.float32)
    condition_noise = rng.standard_normal((count, gan.generator.condition_dim))
    return noise, condition_noise.astype(np.float32)


def final_images(gan, token_ids, noise, condition_noise, batch_size=64):
    """The EMA generator's final-stage images for fixed inputs, in batches: [N, S, S, 3]."""
    return np.concatenate(
        [
            sample_images(
                gan,
                token_ids[i : i + batch_size],
                noise[i : i + batch_size],
                condition_noise[i : i + batch_size],
            )[0][-1]
            for i in range(0, len(noise), batch_size)
        ]
    )


def sample_grid(stage_images, real_images=None):
    """One row per caption: every stage resized to the final size, then the real image."""
    final = stage_images[-1].shape[1]
    columns = [
        tf.image.resize(x, [final, final], "nearest").numpy() for x in stage_images
    ]
    if real_images is not None:
        columns.append(np.asarray(real_images))
    return visualization.image_grid(visualization.to_uint8(np.stack(columns, axis=1)))


def r_precision_examples(context):
    """How many validation examples the R-precision hook scores.

    The first whole batches of the validation file (the pipeline drops a
    partial last batch), at most `R_PRECISION_EXAMPLES`.
    """
    batch_size = context.config.data.batch_size
    whole = context.validation_reader.num_examples // batch_size * batch_size
    return min(R_PRECISION_EXAMPLES, whole)


def check_validation(context, log_fn=log):
    """Refuses, before any step, a validation file the training-time evaluations cannot use.

    Checks that the file holds a whole batch (the R-precision and
    L_similarity evaluations read whole batches) and the fixed examples of
    the sample and attention images, and that the examples R-precision
    scores show at least 2 distinct contents. Logs how many candidates
    R-precision will rank (`r_precision.fitting_candidates`).

    Returns:
        K, the R-precision candidates.

    Raises:
        ValueError: naming the file and the count that is too small.
    """
    reader = context.validation_reader
    needed = max(context.config.data.batch_size, SAMPLE_CAPTIONS, ATTENTION_PAIRS)
    if reader.num_examples < needed:
        raise ValueError(
            f"Validation file {reader.path} has {reader.num_examples} usable examples; the "
            f"evaluations during training need at least {needed} (one batch of "
            f"{context.config.data.batch_size}, {SAMPLE_CAPTIONS} sample captions). Add "
            "validation examples or lower --batch_size."
        )
    count = r_precision_examples(context)
    ids = []
    for start in range(0, count, 256):
        rows = reader.valid_rows[start : min(start + 256, count)]
        ids.append(np.asarray(content_id(reader.read_rows(rows))))
    ids = np.concatenate(ids)
    try:
        candidates = r_precision_lib.fitting_candidates(ids)
    except ValueError as e:
        raise ValueError(
            f"Validation file {reader.path}: the {count} examples R-precision scores show "
            f"{len(np.unique(ids))} distinct product(s), and at least 2 are needed ({e}). "
            "Put examples of more products into the validation file."
        ) from e
    if candidates < r_precision_lib.FULL_CANDIDATES:
        log_fn(
            f"data: validation R-precision ranks among {candidates} captions, not "
            f"{r_precision_lib.FULL_CANDIDATES} (only {candidates - 1} other-product examples "
            f"for some of the {count} scored), logged as "
            f"eval/{r_precision_lib.metric_name(candidates)}"
        )
    return candidates


def damsm_r_precision_hook(context, damsm, results, log_fn=log):
    """R-precision of the DAMSM on validation pairs, in TensorBoard under `eval/<name>`.

    Top-1 of K = min(100, available) candidates
    (`r_precision.fitting_candidates`); the name is `r_precision` for 100 and
    `r_precision_at_<K>` for fewer (`r_precision.metric_name`). The latest
    value is also kept in `results[<name>]`. When the validation data marks
    captions written with held-out synonyms, the R-precision within the
    held-out and the other captions of the same pairs is also logged,
    as `eval/held_out/<name>` and `eval/in_vocabulary/<name>`.
    """

    def hook(step, writer):
        images, sentences, ids, sets = encode_validation(
            damsm, context.validation_dataset(), R_PRECISION_EXAMPLES
        )
        candidates = r_precision_lib.fitting_candidates(ids)
        name = r_precision_lib.metric_name(candidates)
        value = r_precision_lib.r_precision_from_features(
            images, sentences, ids, num_candidates=candidates, seed=context.config.data.seed
        )
        results[name] = value
        with writer.as_default(step=step):
            tf.summary.scalar(f"eval/{name}", value)
        log_fn(
            f"[damsm] step {step}  validation R-precision (top-1 of {candidates}) {value:.3f}"
        )
        if sets:
            values = evaluation.r_precision_by_set(
                images, sentences, ids, sets, seed=context.config.data.seed
            )
            with writer.as_default(step=step):
                for caption_set, metrics in values.items():
                    for metric, number in metrics.items():
                        tf.summary.scalar(f"eval/{caption_set}/{metric}", number)
            log_fn(
                f"[damsm] step {step}  validation R-precision by caption set: "
                + ", ".join(
                    f"{caption_set} {number:.3f} ({metric})"
                    for caption_set, metrics in values.items()
                    for metric, number in metrics.items()
                )
            )

    return hook


def damsm_attention_hook(context, damsm):
    """The DAMSM's word-region attention on fixed validation pairs.

    Writes the maps of the first `ATTENTION_PAIRS` pairs (`damsm/attention`)
    and, over `LOCALISATION_PAIRS` pairs, how localised the maps are
    (`attention_localisation`): `damsm/attention_entropy` (1 = uniform),
    `damsm/attention_peak_on_product` and `damsm/attention_product_area`
    (its chance level). A validation file smaller than `LOCALISATION_PAIRS`
    gives what it has.
    """
    pairs = min(LOCALISATION_PAIRS, context.validation_reader.num_examples)
    fixed = context.fixed_validation_batch(max(pairs, ATTENTION_PAIRS))
    tokens = context.tokenizer.detokenize(fixed["token_ids"][:ATTENTION_PAIRS]).numpy()
    lengths = fixed["lengths"][:ATTENTION_PAIRS].numpy()
    images = fixed["images"][-1][:ATTENTION_PAIRS].numpy()

    def hook(step, writer):
        attention, result = damsm_attention_localisation(damsm, fixed, context.config)
        write_attention_summary(
            "damsm/attention", images, attention[:ATTENTION_PAIRS], tokens, lengths, step,
            writer,
        )
        with writer.as_default(step=step):
            tf.summary.scalar("damsm/attention_entropy", result["normalized_entropy"])
            tf.summary.scalar("damsm/attention_peak_on_product", result["peak_on_product"])
            tf.summary.scalar("damsm/attention_product_area", result["product_area"])

    return hook


def gan_samples_hook(context, gan):
    """Every stage's EMA samples of fixed captions beside the real image (`gan/samples`).

    Also the last refinement stage's word attention on them (`gan/attention`).
    """
    fixed = context.fixed_validation_batch(SAMPLE_CAPTIONS)
    tokens = context.tokenizer.detokenize(fixed["token_ids"]).numpy()
    rng = np.random.default_rng(context.config.data.seed)
    noise = rng.standard_normal((SAMPLE_CAPTIONS, gan.generator.z_dim)).astype(np.float32)
    condition_noise = np.zeros((SAMPLE_CAPTIONS, gan.generator.condition_dim), np.float32)

    def hook(step, writer):
        stage_images, attention = sample_images(gan, fixed["token_ids"], noise, condition_noise)
        grid = sample_grid(stage_images, fixed["images"][-1].numpy())
        with writer.as_default(step=step):
            tf.summary.image("gan/samples", grid[None], max_outputs=1)
        if attention:
            write_attention_summary(
                "gan/attention", stage_images[-1], attention[-1], tokens,
                fixed["lengths"].numpy(), step, writer,
            )

    return hook


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
    noise = fixed_noise(gan, num_images, context.config.data.seed + 1)

    def hook(step, writer):
        images = final_images(gan, token_ids, *noise)
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


def variety_hook(context, gan, log_fn=log, num_descriptions=VARIETY_DESCRIPTIONS,
                 num_seeds=VARIETY_SEEDS, pool=VARIETY_POOL):
    """How different the EMA generator's designs of one description are, over seeds.

    Fixed validation descriptions (those with real images of the same
    content, see `evaluation.content_groups`), `num_seeds` fixed noises
    each. Logs `eval/diversity_<measure>` beside the real images'
    `eval/diversity_<measure>_real` and their ratio
    `eval/diversity_ratio_<measure>` (`metrics.diversity`), and the first
    description's designs as the image `gan/variations`.

    Returns:
        The hook, or None when no validation content has two images.
    """
    reader = context.validation_reader
    examples = evaluation.read_examples(reader, min(pool, reader.num_examples))
    try:
        chosen, real_indices = evaluation.content_groups(examples, num_descriptions, num_seeds)
    except ValueError as e:
        log_fn(f"[gan] no variety summaries: {e}")
        return None
    size = context.stage_sizes[-1]
    real = diversity.group_diversity(
        [evaluation.to_unit_range(examples["image"][rows], size) for rows in real_indices]
    )
    captions = evaluation.decode_captions(examples)
    texts = [captions[i] for i in chosen for _ in range(num_seeds)]
    token_ids, _ = context.tokenizer(tf.constant(texts))
    noise = fixed_noise(gan, len(texts), context.config.data.seed + 3)

    def hook(step, writer):
        images = final_images(gan, token_ids, *noise)
        groups = images.reshape(len(chosen), num_seeds, *images.shape[1:])
        generated = diversity.group_diversity(list(groups))
        ratio = diversity.diversity_ratio(generated, real)
        with writer.as_default(step=step):
            for name in diversity.MEASURES:
                tf.summary.scalar(f"eval/diversity_{name}", generated[name])
                tf.summary.scalar(f"eval/diversity_{name}_real", real[name])
                tf.summary.scalar(f"eval/diversity_ratio_{name}", ratio[name])
            grid = visualization.image_grid(visualization.to_uint8(groups[:1]))
            tf.summary.image("gan/variations", grid[None], max_outputs=1)
            tf.summary.text("gan/variations/caption", tf.constant(captions[chosen[0]]))
        shown = "  ".join(f"{name} {ratio[name]:.2f}" for name in diversity.MEASURES)
        log_fn(
            f"[gan] step {step}  variety of {num_seeds} seeds x {len(chosen)} descriptions, "
            f"generated / real: {shown}"
        )

    return hook
