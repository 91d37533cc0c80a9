"""AttnGAN of the smoke preset: one training step, the non-finite skip policy, checkpoints.

The GAN is built once per module (InceptionV3 at 75 px and the traced step
are the slow parts); tests that need a changed state record it in fixtures
and put every variable back afterwards.
"""

import re
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

import model_fixtures
from fashion_t2i import checkpointing
from fashion_t2i import evaluation_hooks
from fashion_t2i import losses
from fashion_t2i import networks
from fashion_t2i import train_lib
from fashion_t2i.models.attn_gan import AttnGAN

VOCAB = model_fixtures.VOCABULARY_SIZE
CONFIG = model_fixtures.smoke_config(batch_size=2)
NUM_STAGES = len(CONFIG.model.stage_sizes)  # smoke: 16 and 32 px


@pytest.fixture(scope="module")
def gan():
    keras.utils.set_random_seed(0)
    damsm = networks.damsm(CONFIG, VOCAB)
    return train_lib.compiled_gan(CONFIG, damsm)


@pytest.fixture(scope="module")
def train_step(gan):
    # Compiled like train_lib.train_gan does.
    return tf.function(gan.train_step)


def every_variable(gan):
    """Every variable the GAN owns (to put a state back)."""
    variables = (
        list(gan.generator.weights) + list(gan.generator_ema.weights)
        + list(gan.text_encoder.weights) + list(gan.image_encoder.weights)
        + list(gan.generator_optimizer.variables) + [gan.seed_generator.state]
    )
    for discriminator, optimizer in zip(gan.discriminators, gan.discriminator_optimizers):
        variables += list(discriminator.weights) + list(optimizer.variables)
    return variables


def strip_numbers(path):
    return re.sub(r"_\d+(?=/|$)", "", path)


class State:
    """numpy snapshot of the parts of a GAN the tests compare."""

    def __init__(self, gan):
        snap = model_fixtures.snapshot
        self.generator = snap(gan.generator.trainable_variables)
        self.generator_all = snap(gan.generator.weights)
        self.ema = snap(gan.generator_ema.weights)
        self.discriminators = [snap(d.trainable_variables) for d in gan.discriminators]
        self.discriminators_all = [snap(d.weights) for d in gan.discriminators]
        self.encoders = snap(list(gan.text_encoder.weights) + list(gan.image_encoder.weights))
        self.generator_iterations = int(gan.generator_optimizer.iterations.numpy())
        self.discriminator_iterations = [
            int(o.iterations.numpy()) for o in gan.discriminator_optimizers
        ]


@pytest.fixture(scope="module")
def first_step(gan, train_step):
    before = State(gan)
    results = train_step(model_fixtures.fake_batch(CONFIG, seed=1))
    return before, State(gan), {k: v.numpy() for k, v in results.items()}


@pytest.fixture(scope="module")
def nan_step(gan, train_step, first_step):
    """A batch with a NaN pixel, then a normal batch; then the GAN is put back."""
    variables = every_variable(gan)
    saved = model_fixtures.snapshot(variables)
    before = State(gan)
    results = train_step(model_fixtures.fake_batch(CONFIG, seed=2, nan_images=True))
    after = State(gan)
    next_results = train_step(model_fixtures.fake_batch(CONFIG, seed=3))
    # Put the GAN back before any other test sees it.
    for variable, value in zip(variables, saved):
        variable.assign(value)
    return {
        "before": before,
        "after": after,
        "results": {k: v.numpy() for k, v in results.items()},
        "next_results": {k: v.numpy() for k, v in next_results.items()},
    }


# --- one training step --------------------------------------------------------------


def test_built_gan_has_one_discriminator_per_stage(gan):
    assert [d.image_size for d in gan.discriminators] == list(CONFIG.model.stage_sizes)
    assert len(gan.discriminator_optimizers) == NUM_STAGES
    assert not gan.text_encoder.trainable and not gan.image_encoder.trainable
    assert not gan.generator_ema.trainable


@pytest.mark.slow
def test_train_step_returns_every_loss_and_finite(first_step):
    _, _, results = first_step
    expected = {"generator_loss", "kl_loss", "similarity_loss", "finite"}
    expected |= {f"generator_adversarial_loss_{k + 1}" for k in range(NUM_STAGES)}
    expected |= {f"discriminator_loss_{k + 1}" for k in range(NUM_STAGES)}
    assert set(results) == expected
    assert bool(results["finite"]) is True
    for name, value in results.items():
        assert np.isfinite(value), name
    # L_G = sum_k L_Gk + lambda L_sim + kl_weight KL (one step: the means are the values).
    train = CONFIG.train
    expected_g = (
        sum(results[f"generator_adversarial_loss_{k + 1}"] for k in range(NUM_STAGES))
        + train.similarity_weight * results["similarity_loss"]
        + train.kl_weight * results["kl_loss"]
    )
    np.testing.assert_allclose(results["generator_loss"], expected_g, rtol=1e-5)


@pytest.mark.slow
def test_mode_seeking_term_enters_the_generator_loss_with_its_weight():
    config = CONFIG.replace(train={"similarity_weight": 0.0, "mode_seeking_weight": 0.5})
    keras.utils.set_random_seed(0)
    gan = train_lib.compiled_gan(config, networks.damsm(config, VOCAB))
    assert "mode_seeking_loss" in gan.loss_names
    assert gan.get_config()["mode_seeking_weight"] == 0.5
    results = tf.function(gan.train_step)(model_fixtures.fake_batch(config, seed=1))
    results = {k: float(v) for k, v in results.items()}
    # 1 / (d + eps) with d > 0: finite and positive.
    assert 0.0 < results["mode_seeking_loss"] < 1e5
    expected_g = (
        sum(results[f"generator_adversarial_loss_{k + 1}"] for k in range(NUM_STAGES))
        + config.train.kl_weight * results["kl_loss"]
        + 0.5 * results["mode_seeking_loss"]
    )
    np.testing.assert_allclose(results["generator_loss"], expected_g, rtol=1e-5)
    # Off by default: the seed's loss, without the second draw.
    assert "mode_seeking_loss" not in train_lib.compiled_gan(
        CONFIG, networks.damsm(CONFIG, VOCAB)
    ).loss_names


@pytest.mark.slow
def test_auxiliary_heads_enter_both_losses_with_their_weight():
    config = CONFIG.replace(
        model={"auxiliary_attributes": ("class", "pattern")},
        train={"similarity_weight": 0.0, "auxiliary_weight": 0.5},
    )
    keras.utils.set_random_seed(0)
    gan = train_lib.compiled_gan(config, networks.damsm(config, VOCAB))
    assert gan.get_config()["auxiliary_weight"] == 0.5
    assert gan.discriminators[0].attribute_heads == {"class": 10, "pattern": 4}
    batch = model_fixtures.fake_batch(config, seed=1)
    heads = [h for d in gan.discriminators for h in d.attribute_logits.values()]
    before = [model_fixtures.snapshot(h.weights) for h in heads]
    results = {k: float(v) for k, v in tf.function(gan.train_step)(batch).items()}
    # Cross-entropy of heads that start near uniform: about log 10 + log 4
    # per stage, summed over the stages.
    chance = NUM_STAGES * (np.log(10) + np.log(4))
    for name in ("generator_auxiliary_loss", "discriminator_auxiliary_loss"):
        assert 0.5 * chance < results[name] < 2.0 * chance, name
    expected_g = (
        sum(results[f"generator_adversarial_loss_{k + 1}"] for k in range(NUM_STAGES))
        + config.train.kl_weight * results["kl_loss"]
        + 0.5 * results["generator_auxiliary_loss"]
    )
    np.testing.assert_allclose(results["generator_loss"], expected_g, rtol=1e-5)
    # Every stage's heads learn from the real images' ids.
    for head, old in zip(heads, before):
        assert all(model_fixtures.changed(old, model_fixtures.snapshot(head.weights)))
    # Data without those ids: a clear error, not a silent seed loss.
    del batch["pattern_id"]
    with pytest.raises(ValueError, match="pattern_id"):
        gan.train_step(batch)


def test_auxiliary_weight_needs_attribute_heads():
    config = CONFIG.replace(train={"similarity_weight": 0.0})
    damsm = networks.damsm(config, VOCAB)
    with pytest.raises(ValueError, match="attribute heads"):
        AttnGAN(
            networks.generator(config.model), networks.discriminators(config.model),
            damsm.text_encoder, damsm.image_encoder, auxiliary_weight=1.0,
        )
    # The preset's weight is inert without heads: the seed's loss.
    gan = networks.gan(config, damsm)
    assert gan.auxiliary_weight == 0.0
    assert "generator_auxiliary_loss" not in gan.loss_names


def test_data_without_the_heads_ids_is_refused_before_any_step():
    class Reader:
        path = "given.h5"
        has_attributes = False

    config = CONFIG.replace(model={"auxiliary_attributes": ("class",)})
    with pytest.raises(ValueError, match="given.h5 has none.*--auxiliary_attributes="):
        train_lib.check_auxiliary_data(config, Reader())
    # The DAMSM phase alone, no heads, or a zero weight do not need the ids.
    train_lib.check_auxiliary_data(config.replace(train={"phase": "damsm"}), Reader())
    train_lib.check_auxiliary_data(CONFIG, Reader())
    train_lib.check_auxiliary_data(config.replace(train={"auxiliary_weight": 0.0}), Reader())
    Reader.has_attributes = True
    train_lib.check_auxiliary_data(config, Reader())


@pytest.mark.slow
def test_zero_similarity_weight_leaves_the_similarity_out_of_the_step():
    config = CONFIG.replace(train={"similarity_weight": 0.0})
    keras.utils.set_random_seed(0)
    gan = train_lib.compiled_gan(config, networks.damsm(config, VOCAB))
    assert "similarity_loss" not in gan.loss_names
    before = State(gan)
    results = tf.function(gan.train_step)(model_fixtures.fake_batch(config, seed=1))
    results = {k: float(v) for k, v in results.items()}
    assert "similarity_loss" not in results
    expected_g = (
        sum(results[f"generator_adversarial_loss_{k + 1}"] for k in range(NUM_STAGES))
        + config.train.kl_weight * results["kl_loss"]
    )
    np.testing.assert_allclose(results["generator_loss"], expected_g, rtol=1e-5)
    changed = model_fixtures.changed(before.generator, State(gan).generator)
    assert changed and all(changed)
    # Measured outside the step instead, on any images and captions.
    batch = model_fixtures.fake_batch(config, seed=2)
    value = gan.similarity_loss(batch["images"][-1], batch["token_ids"], batch["content_id"])
    assert np.isfinite(float(value)) and float(value) > 0


def _loss_function_value(gan, batch, attention):
    """`losses.similarity_loss` of the batch's last-stage images, through the GAN's encoders."""
    images, token_ids = batch["images"][-1], batch["token_ids"]
    word_features, sentence = gan.encode_text(token_ids)
    region_features, global_feature = gan.image_encoder(images, training=False)
    return losses.similarity_loss(
        word_features, sentence, tf.not_equal(token_ids, 0), region_features, global_feature,
        gamma1=gan.gamma1, gamma2=gan.gamma2, gamma3=gan.gamma3, mode=gan.similarity,
        content_ids=batch["content_id"], attention=attention,
    )["similarity_loss"]


def test_similarity_loss_is_the_generator_loss_term(gan):
    """`similarity_loss` on a batch equals the term the train step weighs by lambda."""
    batch = model_fixtures.fake_batch(CONFIG, seed=4)
    images, token_ids = batch["images"][-1], batch["token_ids"]
    expected = _loss_function_value(gan, batch, "attngan")
    actual = gan.similarity_loss(images, token_ids, batch["content_id"])
    np.testing.assert_allclose(actual, expected, rtol=1e-6)
    # Other captions give another value: the captions are read.
    shuffled = gan.similarity_loss(images, tf.roll(token_ids, 1, axis=0), batch["content_id"])
    assert abs(float(shuffled) - float(actual)) > 1e-6


def test_similarity_loss_uses_the_configured_attention(gan):
    """`ModelConfig.similarity_attention` reaches the generator's L_similarity."""
    config = CONFIG.replace(model={"similarity_attention": "cosine"})
    encoders = types.SimpleNamespace(text_encoder=gan.text_encoder, image_encoder=gan.image_encoder)
    cosine = networks.gan(config, encoders)
    assert cosine.attention == "cosine" and gan.attention == "attngan"
    assert AttnGAN.from_config(cosine.get_config()).attention == "cosine"
    batch = model_fixtures.fake_batch(CONFIG, seed=4)
    images, token_ids = batch["images"][-1], batch["token_ids"]
    expected = _loss_function_value(gan, batch, "cosine")
    actual = cosine.similarity_loss(images, token_ids, batch["content_id"])
    np.testing.assert_allclose(actual, expected, rtol=1e-6)
    seed_form = gan.similarity_loss(images, token_ids, batch["content_id"])
    assert abs(float(seed_form) - float(actual)) > 1e-4


def _first_step_losses(config):
    keras.utils.set_random_seed(0)
    gan = train_lib.compiled_gan(config, networks.damsm(config, VOCAB))
    results = tf.function(gan.train_step)(model_fixtures.fake_batch(config, seed=1))
    return {k: float(v) for k, v in results.items()}


@pytest.mark.slow
@pytest.mark.parametrize("batch_size", [2, 4])
def test_hard_mismatch_adds_the_closest_other_caption(batch_size):
    # L_similarity does not enter L_D; at lambda = 0 the step skips the image encoder.
    config = model_fixtures.smoke_config(batch_size=batch_size).replace(
        train={"similarity_weight": 0.0}
    )
    plain = _first_step_losses(config)
    hard = _first_step_losses(config.replace(train={"hard_mismatch": True}))
    d_losses = [f"discriminator_loss_{k + 1}" for k in range(NUM_STAGES)]
    if batch_size == 2:
        # Each example's only other caption is both its random and its closest
        # mismatch: the mean of the two equal terms is the single term.
        for name in d_losses:
            np.testing.assert_allclose(hard[name], plain[name], rtol=1e-5)
    else:
        # The fixture's captions differ: the closest is not always the next one.
        assert all(abs(hard[name] - plain[name]) > 1e-6 for name in d_losses)


def test_train_step_changes_every_generator_variable(first_step):
    before, after, _ = first_step
    changed = model_fixtures.changed(before.generator, after.generator)
    assert changed and all(changed)
    assert after.generator_iterations == before.generator_iterations + 1


def test_train_step_changes_every_discriminator_variable(gan, first_step):
    before, after, _ = first_step
    for k, discriminator in enumerate(gan.discriminators):
        changed = model_fixtures.changed(before.discriminators[k], after.discriminators[k])
        unchanged = [v.path for v, c in zip(discriminator.trainable_variables, changed) if not c]
        assert changed and not unchanged, f"discriminator {k + 1}: {unchanged}"
        assert after.discriminator_iterations[k] == before.discriminator_iterations[k] + 1


def test_train_step_leaves_encoders_unchanged(first_step):
    before, after, _ = first_step
    assert before.encoders
    assert not any(model_fixtures.changed(before.encoders, after.encoders))


def test_train_step_moves_ema_slightly_towards_the_generator(gan, first_step):
    before, after, _ = first_step
    # Same layers in the same order (unnamed sub-layers get different numbers).
    assert [strip_numbers(w.path) for w in gan.generator_ema.weights] == [
        strip_numbers(w.path) for w in gan.generator.weights
    ]
    assert [w.shape for w in gan.generator_ema.weights] == [w.shape for w in gan.generator.weights]
    # build_networks copied the generator into the EMA.
    for ema, weight in zip(before.ema, before.generator_all):
        np.testing.assert_array_equal(ema, weight)
    assert CONFIG.train.ema_decay == pytest.approx(0.999)
    # Warm-up: the decay is min(ema_decay, (1 + n) / (10 + n)) after n generator updates.
    n = float(gan.generator_optimizer.iterations.numpy())
    assert n == 1
    decay = min(CONFIG.train.ema_decay, (1 + n) / (10 + n))
    moved = []
    for ema_before, ema_after, g_before, g_after in zip(
        before.ema, after.ema, before.generator_all, after.generator_all
    ):
        np.testing.assert_allclose(
            ema_after, decay * ema_before + (1 - decay) * g_after, rtol=1e-5, atol=1e-8
        )
        # EMA step = (1 - decay) * generator step: a small fraction of it.
        np.testing.assert_allclose(
            ema_after - ema_before, (1 - decay) * (g_after - g_before), rtol=1e-3, atol=1e-7
        )
        moved.append(not np.array_equal(ema_before, ema_after))
    assert any(moved)


def test_compile_needs_one_optimizer_per_discriminator(gan):
    other = AttnGAN(gan.generator, gan.discriminators, gan.text_encoder, gan.image_encoder)
    with pytest.raises(ValueError, match="one optimizer per discriminator"):
        other.compile(keras.optimizers.Adam(), [keras.optimizers.Adam()])


# --- non-finite batches (on_nan="skip") -------------------------------------------------


@pytest.mark.slow
def test_nan_batch_reports_not_finite(nan_step):
    results = nan_step["results"]
    assert bool(results["finite"]) is False
    for k in range(NUM_STAGES):
        assert not np.isfinite(results[f"discriminator_loss_{k + 1}"])


def test_nan_batch_leaves_discriminator_variables_unchanged(nan_step):
    before, after = nan_step["before"], nan_step["after"]
    for k in range(NUM_STAGES):
        assert not any(model_fixtures.changed(before.discriminators[k], after.discriminators[k]))
        assert after.discriminator_iterations[k] == before.discriminator_iterations[k]


def test_nan_batch_leaves_generator_unchanged(nan_step):
    before, after = nan_step["before"], nan_step["after"]
    assert after.generator_iterations == before.generator_iterations
    assert not any(model_fixtures.changed(before.generator, after.generator))


def test_nan_batch_keeps_discriminator_statistics_finite(gan, nan_step):
    after = nan_step["after"]
    for discriminator, values in zip(gan.discriminators, after.discriminators_all):
        bad = [w.path for w, v in zip(discriminator.weights, values) if not np.all(np.isfinite(v))]
        assert not bad


def test_step_after_a_nan_batch_reports_finite_losses(nan_step):
    results = nan_step["next_results"]
    assert bool(results["finite"]) is True
    for name, value in results.items():
        assert np.isfinite(value), name


# --- checkpoints ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def restored(gan, first_step, tmp_path_factory):
    """The GAN saved with checkpointing.gan_checkpoint after one step, restored into a fresh one.

    The fresh GAN is built in this process, after other networks: Keras numbers
    its unnamed layers differently, as a resumed run in a new process may.
    """
    step = tf.Variable(1, dtype=tf.int64)
    path = checkpointing.gan_checkpoint(gan, step).save(str(tmp_path_factory.mktemp("gan") / "ckpt"))
    keras.utils.set_random_seed(99)
    fresh = train_lib.compiled_gan(CONFIG, networks.damsm(CONFIG, VOCAB))
    fresh_step = tf.Variable(0, dtype=tf.int64)
    before_restore = State(fresh)
    status = checkpointing.gan_checkpoint(fresh, fresh_step).restore(path)
    # Only silences TF's log of unrestored values; the tests still assert on `status`.
    status.expect_partial()
    return {"status": status, "fresh": fresh, "step": fresh_step, "before": before_restore}


def assert_same_variables(saved, loaded):
    assert len(saved) == len(loaded) > 0
    for a, b in zip(saved, loaded):
        assert a.shape == b.shape, a.path
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


@pytest.mark.slow
def test_checkpoint_restores_networks_ema_and_counters(gan, first_step, restored):
    fresh, before = restored["fresh"], restored["before"]
    # The fresh GAN starts elsewhere, so the comparisons below can fail.
    assert before.generator_iterations == 0
    assert any(model_fixtures.changed(before.generator_all, State(gan).generator_all))
    assert any(model_fixtures.changed(before.ema, State(gan).ema))

    assert_same_variables(gan.generator.weights, fresh.generator.weights)
    assert_same_variables(gan.generator_ema.weights, fresh.generator_ema.weights)
    assert_same_variables(gan.text_encoder.weights, fresh.text_encoder.weights)
    assert_same_variables(gan.image_encoder.weights, fresh.image_encoder.weights)
    for saved, loaded in zip(gan.discriminators, fresh.discriminators):
        assert_same_variables(saved.weights, loaded.weights)  # BatchNorm statistics too
    assert_same_variables([gan.seed_generator.state], [fresh.seed_generator.state])
    assert int(restored["step"].numpy()) == 1
    # One training step before the save.
    assert int(fresh.generator_optimizer.iterations.numpy()) == 1
    assert [int(o.iterations.numpy()) for o in fresh.discriminator_optimizers] == [1] * NUM_STAGES

    # The exported network (EMA) gives the same images for the same inputs.
    batch = model_fixtures.fake_batch(CONFIG, seed=5)
    rng = np.random.default_rng(5)
    noise = rng.standard_normal((2, CONFIG.model.z_dim)).astype(np.float32)
    condition_noise = rng.standard_normal((2, CONFIG.model.condition_dim)).astype(np.float32)
    expected = evaluation_hooks.sample_images(gan, batch["token_ids"], noise, condition_noise)
    actual = evaluation_hooks.sample_images(fresh, batch["token_ids"], noise, condition_noise)
    model_fixtures.assert_same_outputs(actual, expected)


def test_checkpoint_restores_optimizer_moments(gan, first_step, restored):
    fresh = restored["fresh"]
    restored["status"].assert_existing_objects_matched()
    assert_same_variables(gan.generator_optimizer.variables, fresh.generator_optimizer.variables)
    for saved, loaded in zip(gan.discriminator_optimizers, fresh.discriminator_optimizers):
        assert_same_variables(saved.variables, loaded.variables)


def test_config_round_trip(gan):
    config = gan.get_config()
    copy = AttnGAN.from_config(config)
    assert copy.get_config() == config
    assert copy.loss_names == gan.loss_names
    assert [d.get_config() for d in copy.discriminators] == [
        d.get_config() for d in gan.discriminators
    ]
