"""AttnGAN promises checked on a tiny GAN built from the model classes.

What one step updates (the loss-level finiteness guards, the EMA) and what
the generator reads (stage 1 is G1(z, e_bar)). The batches here are
finite, so the input guard lets every step run; a non-finite loss is made
by patching one loss function of `fashion_t2i.losses` (added NaN: the
gradients stay finite, so only the finiteness flag can keep the update
out). The networks are built directly from the model classes at tiny sizes
(8 and 16 px stages), without the similarity term, so the image encoder
never runs.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import model_fixtures
from fashion_t2i import losses
from fashion_t2i.models.attn_gan import AttnGAN
from fashion_t2i.models.discriminator import Discriminator
from fashion_t2i.models.generator import Generator
from fashion_t2i.models.image_encoder import ImageEncoder
from fashion_t2i.models.text_encoder import TextEncoder

BATCH, MAX_WORDS, JOINT_DIM, NOISE_DIM = 2, 6, 16, 8
STAGE_SIZES = (8, 16)
VOCAB = model_fixtures.VOCABULARY_SIZE


def adam():
    return keras.optimizers.Adam(1e-3, beta_1=0.5)


def tiny_generator():
    return Generator(
        z_dim=NOISE_DIM, condition_dim=NOISE_DIM, gf_dim=8, stage1_size=STAGE_SIZES[0],
        num_refinement_stages=len(STAGE_SIZES) - 1, residual_blocks=1, name="generator",
    )


def tiny_gan(ema_decay=0.999, optimizer=adam, seed=0, attribute_heads=None):
    """A compiled AttnGAN with every variable created, the EMA a copy of G.

    With `attribute_heads` ({attribute: values}) the discriminators have
    auxiliary heads, trained at weight 1.
    """
    keras.utils.set_random_seed(seed)
    generator = tiny_generator()
    discriminators = [
        Discriminator(
            size, df_dim=8, sentence_dim=JOINT_DIM, attribute_heads=attribute_heads,
            name=f"discriminator{k + 1}",
        )
        for k, size in enumerate(STAGE_SIZES)
    ]
    text_encoder = TextEncoder(VOCAB, embedding_dim=16, joint_dim=JOINT_DIM, name="text_encoder")
    image_encoder = ImageEncoder(joint_dim=JOINT_DIM, input_size=75, name="image_encoder")
    gan = AttnGAN(
        generator, discriminators, text_encoder, image_encoder,
        similarity_weight=0.0, ema_decay=ema_decay, seed=seed,
        auxiliary_weight=1.0 if attribute_heads else 0.0,
    )
    gan.compile(optimizer(), [optimizer() for _ in discriminators])
    # Create the variables, as the training code does before tracing the step.
    text_encoder(tf.ones([1, MAX_WORDS], tf.int32))
    gan.build_networks(BATCH, MAX_WORDS)
    return gan


def fake_batch(seed=0, token_ids=None, class_ids=False):
    """A finite training batch at the tiny sizes (images uniform in [-1, 1]).

    With `class_ids`, also random `class_id`s of 10 classes.
    """
    rng = np.random.default_rng(seed)
    if token_ids is None:
        token_ids, _ = model_fixtures.token_ids(BATCH, MAX_WORDS, seed=seed)
    images = tuple(
        tf.constant(rng.uniform(-1.0, 1.0, (BATCH, s, s, 3)).astype(np.float32))
        for s in STAGE_SIZES
    )
    batch = {
        "images": images,
        "token_ids": tf.constant(token_ids, tf.int32),
        "wrong_token_ids": tf.constant(np.roll(token_ids, -1, axis=0), tf.int32),
        "content_id": tf.constant(np.arange(BATCH), tf.int64),
    }
    if class_ids:
        batch["class_id"] = tf.constant(rng.integers(0, 10, BATCH), tf.int32)
    return batch


def every_variable(gan):
    """Every variable a step may write (to put the GAN back after a test)."""
    variables = (
        list(gan.generator.weights) + list(gan.generator_ema.weights)
        + list(gan.text_encoder.weights) + list(gan.generator_optimizer.variables)
        + [gan.seed_generator.state]
    )
    for discriminator, optimizer in zip(gan.discriminators, gan.discriminator_optimizers):
        variables += list(discriminator.weights) + list(optimizer.variables)
    return variables


class State:
    """numpy snapshot of what a step may change."""

    def __init__(self, gan):
        snap = model_fixtures.snapshot
        self.generator = snap(gan.generator.trainable_variables)
        self.generator_statistics = snap(gan.generator.non_trainable_variables)
        self.generator_all = snap(gan.generator.weights)
        self.generator_slots = snap(gan.generator_optimizer.variables)
        self.ema = snap(gan.generator_ema.weights)
        self.discriminators = [snap(d.trainable_variables) for d in gan.discriminators]
        self.discriminator_statistics = [
            snap(d.non_trainable_variables) for d in gan.discriminators
        ]
        self.discriminator_slots = [snap(o.variables) for o in gan.discriminator_optimizers]
        self.generator_iterations = int(gan.generator_optimizer.iterations.numpy())
        self.discriminator_iterations = [
            int(o.iterations.numpy()) for o in gan.discriminator_optimizers
        ]


def flat(arrays):
    return np.concatenate([a.ravel() for a in arrays])


def unchanged(before, after):
    return before and not any(model_fixtures.changed(before, after))


def all_changed(before, after):
    changed = model_fixtures.changed(before, after)
    return changed and all(changed)


@pytest.fixture(scope="module")
def gan():
    gan = tiny_gan()
    # One ordinary step first, so the Adam moments are not zero.
    results = tf.function(gan.train_step)(fake_batch(seed=1))
    assert bool(results["finite"])
    return gan


def nan_on_stage(function, stage, num_stages):
    """`function` whose value gets a NaN added on the call for `stage` (0-based).

    The step calls each per-stage loss once per stage, in stage order, at
    trace time; the gradient of `loss + NaN` with respect to the weights is
    the ordinary one.
    """
    calls = []

    def patched(*args, **kwargs):
        value = function(*args, **kwargs)
        index = len(calls) % num_stages
        calls.append(index)
        return value + float("nan") if index == stage else value

    return patched


def patched_step(gan, monkeypatch, name, stage):
    """One traced step with `losses.<name>` non-finite at `stage`; the GAN is put back."""
    monkeypatch.setattr(losses, name, nan_on_stage(getattr(losses, name), stage, len(STAGE_SIZES)))
    variables = every_variable(gan)
    saved = model_fixtures.snapshot(variables)
    before = State(gan)
    results = tf.function(gan.train_step)(fake_batch(seed=2))
    after = State(gan)
    for variable, value in zip(variables, saved):
        variable.assign(value)
    return before, after, {k: v.numpy() for k, v in results.items()}


# --- a non-finite discriminator loss ----------------------------------------------------


@pytest.fixture(scope="module", params=range(len(STAGE_SIZES)), ids=lambda k: f"D{k + 1}")
def d_loss_nan(request, gan):
    with pytest.MonkeyPatch.context() as monkeypatch:
        before, after, results = patched_step(gan, monkeypatch, "discriminator_loss", request.param)
    return request.param, before, after, results


@pytest.mark.slow  # traces a training step
def test_non_finite_discriminator_loss_reports_the_step_not_finite(d_loss_nan):
    stage, _, _, results = d_loss_nan
    assert bool(results["finite"]) is False
    assert np.isnan(results[f"discriminator_loss_{stage + 1}"])
    # The other losses were computed normally.
    for k in range(len(STAGE_SIZES)):
        assert np.isfinite(results[f"generator_adversarial_loss_{k + 1}"])
        if k != stage:
            assert np.isfinite(results[f"discriminator_loss_{k + 1}"])
    assert np.isfinite(results["generator_loss"])


@pytest.mark.slow  # traces a training step
def test_non_finite_discriminator_loss_skips_that_discriminator(d_loss_nan):
    stage, before, after, _ = d_loss_nan
    assert unchanged(before.discriminators[stage], after.discriminators[stage])
    assert unchanged(before.discriminator_slots[stage], after.discriminator_slots[stage])
    assert after.discriminator_iterations[stage] == before.discriminator_iterations[stage]


@pytest.mark.slow  # traces a training step
def test_non_finite_discriminator_loss_still_updates_the_other_discriminators(d_loss_nan):
    stage, before, after, _ = d_loss_nan
    for k in range(len(STAGE_SIZES)):
        if k != stage:
            assert all_changed(before.discriminators[k], after.discriminators[k]), k
            assert after.discriminator_iterations[k] == before.discriminator_iterations[k] + 1


@pytest.mark.slow  # traces a training step
def test_non_finite_discriminator_loss_skips_the_generator_and_its_ema(d_loss_nan):
    # The generator loss itself is finite: G is skipped because a D loss is not.
    _, before, after, _ = d_loss_nan
    assert unchanged(before.generator, after.generator)
    assert unchanged(before.generator_slots, after.generator_slots)
    assert after.generator_iterations == before.generator_iterations
    assert unchanged(before.ema, after.ema)


@pytest.mark.slow  # traces a training step
def test_step_skipped_for_a_non_finite_loss_leaves_batch_norm_statistics_unchanged(
    gan, d_loss_nan
):
    stage, before, after, _ = d_loss_nan
    networks = [
        (gan.generator, before.generator_statistics, after.generator_statistics),
        (
            gan.discriminators[stage],
            before.discriminator_statistics[stage],
            after.discriminator_statistics[stage],
        ),
    ]
    for network, statistics_before, statistics_after in networks:
        assert statistics_before, network.name
        changed = model_fixtures.changed(statistics_before, statistics_after)
        paths = [v.path for v, c in zip(network.non_trainable_variables, changed) if c]
        assert not paths


# --- a non-finite generator loss --------------------------------------------------------


@pytest.fixture(scope="module")
def g_loss_nan(gan):
    with pytest.MonkeyPatch.context() as monkeypatch:
        return patched_step(gan, monkeypatch, "generator_adversarial_loss", len(STAGE_SIZES) - 1)


@pytest.mark.slow  # traces a training step
def test_non_finite_generator_loss_skips_the_generator_and_its_ema(g_loss_nan):
    before, after, results = g_loss_nan
    assert bool(results["finite"]) is False
    assert np.isnan(results["generator_loss"])
    assert unchanged(before.generator, after.generator)
    assert unchanged(before.generator_slots, after.generator_slots)
    assert after.generator_iterations == before.generator_iterations
    assert unchanged(before.ema, after.ema)


@pytest.mark.slow  # traces a training step
def test_non_finite_generator_loss_still_updates_the_discriminators(g_loss_nan):
    before, after, results = g_loss_nan
    for k in range(len(STAGE_SIZES)):
        assert np.isfinite(results[f"discriminator_loss_{k + 1}"])
        assert all_changed(before.discriminators[k], after.discriminators[k]), k
        assert after.discriminator_iterations[k] == before.discriminator_iterations[k] + 1


# --- non-finite text features: the skipped step must not reach the exported EMA ---------


@pytest.mark.slow  # traces a training step
def test_a_skipped_step_does_not_poison_the_ema_generator():
    gan = tiny_gan()
    step = tf.function(gan.train_step)
    # A frozen text encoder whose embedding of one word is NaN (e.g. a word
    # vectors file with "nan" in it): captions with that word give NaN text
    # features, hence NaN losses, from finite inputs.
    bad_word = 5
    embedding = next(w for w in gan.text_encoder.weights if "embedding" in w.path)
    rows = embedding.numpy()
    rows[bad_word] = np.nan
    embedding.assign(rows)
    ids = np.full((BATCH, MAX_WORDS), 2, np.int32)
    ids[0, 0] = bad_word
    skipped = step(fake_batch(seed=1, token_ids=ids))
    assert bool(skipped["finite"]) is False
    good = step(fake_batch(seed=2, token_ids=np.full((BATCH, MAX_WORDS), 3, np.int32)))
    assert bool(good["finite"]) is True

    bad = [w.path for w in gan.generator_ema.weights if not np.all(np.isfinite(w.numpy()))]
    assert not bad
    images = gan.generator_ema(gan.generator.dummy_inputs(BATCH, MAX_WORDS, JOINT_DIM), training=False)["images"]
    assert all(np.all(np.isfinite(x)) for x in images)


# --- the EMA over many steps ------------------------------------------------------------


@pytest.mark.slow  # traces a training step
def test_ema_follows_the_warm_up_decay_until_the_cap():
    """ema_n = d_n ema_{n-1} + (1 - d_n) w_n, d_n = min(ema_decay, (1 + n) / (10 + n)).

    With ema_decay = 0.5 the warm-up reaches the cap at n = 8: the steps
    after it use 0.5, not (1 + n) / (10 + n).
    """
    ema_decay, steps = 0.5, 12
    gan = tiny_gan(ema_decay=ema_decay, optimizer=lambda: keras.optimizers.Adam(1e-2, beta_1=0.5))
    step = tf.function(gan.train_step)
    snap = model_fixtures.snapshot
    ema = snap(gan.generator.weights)  # the EMA starts as a copy of G
    np.testing.assert_array_equal(flat(snap(gan.generator_ema.weights)), flat(ema))
    previous, decays = flat(ema), []
    for n in range(1, steps + 1):
        assert bool(step(fake_batch(seed=n))["finite"])
        assert int(gan.generator_optimizer.iterations.numpy()) == n
        weights = snap(gan.generator.weights)
        actual = snap(gan.generator_ema.weights)
        decay = min(ema_decay, (1 + n) / (10 + n))
        ema = [decay * e + (1 - decay) * w for e, w in zip(ema, weights)]
        for expected_value, actual_value, variable in zip(ema, actual, gan.generator_ema.weights):
            np.testing.assert_allclose(
                actual_value, expected_value, rtol=1e-5, atol=1e-7,
                err_msg=f"step {n}: {variable.path}",
            )
        # The decay this step used, read off the weights (least squares).
        w, a = flat(weights), flat(actual)
        decays.append(float(np.dot(a - w, previous - w) / np.dot(previous - w, previous - w)))
        previous = a
    expected_decays = [min(ema_decay, (1 + n) / (10 + n)) for n in range(1, steps + 1)]
    assert expected_decays[-1] == ema_decay and expected_decays[0] < ema_decay
    np.testing.assert_allclose(decays, expected_decays, atol=1e-3)


# --- what stage 1 reads -----------------------------------------------------------------


def test_stage1_reads_the_sentence_feature_and_not_the_words():
    """h1 = G1(z, e_bar): another e_bar alone changes stage 1; other words alone do not."""
    keras.utils.set_random_seed(0)
    generator = tiny_generator()
    rng = np.random.default_rng(0)

    def normal(*shape):
        return tf.constant(rng.standard_normal(shape).astype(np.float32))

    inputs = {
        "sentence_feature": normal(BATCH, JOINT_DIM),
        "word_features": normal(BATCH, MAX_WORDS, JOINT_DIM),
        "word_mask": tf.ones([BATCH, MAX_WORDS], tf.bool),
        "noise": normal(BATCH, NOISE_DIM),
        "condition_noise": normal(BATCH, NOISE_DIM),
    }
    other_sentence = dict(inputs, sentence_feature=normal(BATCH, JOINT_DIM))
    other_words = dict(inputs, word_features=normal(BATCH, MAX_WORDS, JOINT_DIM))

    def stage1(x):
        return generator(x, training=False)["images"][0].numpy()

    reference = stage1(inputs)
    np.testing.assert_array_equal(stage1(dict(inputs)), reference)  # deterministic
    for i in range(BATCH):
        assert np.abs(stage1(other_sentence)[i] - reference[i]).max() > 1e-3, i
    np.testing.assert_array_equal(stage1(other_words), reference)
    # The words are read by the refinement stage.
    final = generator(inputs, training=False)["images"][-1].numpy()
    assert np.abs(generator(other_words, training=False)["images"][-1].numpy() - final).max() > 1e-3
