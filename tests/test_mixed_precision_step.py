"""One AttnGAN training step under bfloat16 and float16 mixed precision.

The global dtype policy is set with `distribute.configure` (as a run does)
and put back to float32 after each test. Under float16 each optimizer is
a `keras.optimizers.LossScaleOptimizer` (as the training code wraps Adam):
the step scales each loss before its gradient, and the optimizer divides
the gradients by the same scale, so the update does not depend on it.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import model_fixtures
from fashion_t2i import distribute
from fashion_t2i.config.runtime_config import RuntimeConfig
from test_attn_gan_guards import fake_batch, flat, tiny_gan

pytestmark = pytest.mark.slow  # every test traces a training step


@pytest.fixture
def mixed_precision():
    """configure(mixed_precision) -> the policy name; float32 again afterwards."""

    def configure(mode):
        distribute.configure(RuntimeConfig(mixed_precision=mode))
        return keras.mixed_precision.global_policy().name

    yield configure
    keras.mixed_precision.set_global_policy("float32")


def adam(mode):
    def make():
        optimizer = keras.optimizers.Adam(1e-3, beta_1=0.5)
        return keras.optimizers.LossScaleOptimizer(optimizer) if mode == "float16" else optimizer

    return make


@pytest.mark.parametrize("mode, compute_dtype", [("bfloat16", "bfloat16"), ("float16", "float16")])
def test_a_mixed_precision_step_updates_every_network_with_finite_float32_losses(
    mixed_precision, mode, compute_dtype
):
    assert mixed_precision(mode) == f"mixed_{compute_dtype}"
    gan = tiny_gan(optimizer=adam(mode))
    assert gan.generator.compute_dtype == compute_dtype
    assert all(v.dtype == "float32" for v in gan.generator.trainable_variables)
    before_g = model_fixtures.snapshot(gan.generator.trainable_variables)
    before_d = [model_fixtures.snapshot(d.trainable_variables) for d in gan.discriminators]

    results = tf.function(gan.train_step)(fake_batch(seed=1))

    assert bool(results["finite"]) is True
    for name, value in results.items():
        if name != "finite":
            assert value.dtype == tf.float32, name
            assert np.isfinite(value.numpy()), name
    snap = model_fixtures.snapshot
    changed = model_fixtures.changed(before_g, snap(gan.generator.trainable_variables))
    assert changed and all(changed)
    for before, discriminator in zip(before_d, gan.discriminators):
        changed = model_fixtures.changed(before, snap(discriminator.trainable_variables))
        assert changed and all(changed), discriminator.name
    assert int(gan.generator_optimizer.iterations.numpy()) == 1


def float16_update(scale):
    """Weight change of G and every D after one float16 step, the loss scale pinned.

    Plain SGD inside the loss scale optimizer: its update is proportional
    to the gradient it is given (Adam's first step would hide a scale).
    """

    def make():
        return keras.optimizers.LossScaleOptimizer(
            keras.optimizers.SGD(0.1), initial_scale=scale, dynamic_growth_steps=10**6
        )

    gan = tiny_gan(optimizer=make)
    networks = [gan.generator] + list(gan.discriminators)
    before = [flat(model_fixtures.snapshot(n.trainable_variables)) for n in networks]
    results = tf.function(gan.train_step)(fake_batch(seed=1))
    assert bool(results["finite"]) is True
    optimizers = [gan.generator_optimizer] + list(gan.discriminator_optimizers)
    assert [float(o.dynamic_scale.numpy()) for o in optimizers] == [scale] * len(optimizers)
    after = [flat(model_fixtures.snapshot(n.trainable_variables)) for n in networks]
    return [a - b for a, b in zip(after, before)]


def test_float16_updates_do_not_depend_on_the_loss_scale(mixed_precision):
    mixed_precision("float16")
    small, large = float16_update(2.0**4), float16_update(2.0**10)
    for k, (a, b) in enumerate(zip(small, large)):
        assert np.linalg.norm(a) > 0, k
        # Equal up to float16 rounding of the scaled gradients (a missing
        # scale or unscale would make them differ by a factor 64).
        assert np.linalg.norm(a - b) <= 0.02 * np.linalg.norm(a), k


def test_float16_loss_scale_grows_after_finite_steps_and_halves_on_overflow(mixed_precision):
    mixed_precision("float16")

    def make():
        return keras.optimizers.LossScaleOptimizer(
            keras.optimizers.Adam(1e-3), initial_scale=2.0**8, dynamic_growth_steps=1
        )

    gan = tiny_gan(optimizer=make)
    step = tf.function(gan.train_step)
    optimizer = gan.generator_optimizer
    assert bool(step(fake_batch(seed=1))["finite"])
    # dynamic_growth_steps=1: every finite update doubles the scale.
    assert float(optimizer.dynamic_scale.numpy()) == 2.0**9

    # A scale whose scaled gradients overflow float16: no update, the scale halves.
    optimizer.dynamic_scale.assign(2.0**40)
    before = model_fixtures.snapshot(gan.generator.trainable_variables)
    step(fake_batch(seed=2))
    assert float(optimizer.dynamic_scale.numpy()) == 2.0**39
    after = model_fixtures.snapshot(gan.generator.trainable_variables)
    assert not any(model_fixtures.changed(before, after))


def test_auxiliary_heads_give_finite_float32_losses_under_bfloat16(mixed_precision):
    mixed_precision("bfloat16")
    gan = tiny_gan(optimizer=adam("bfloat16"), attribute_heads={"class": 10})
    assert all(
        head.compute_dtype == "float32"
        for d in gan.discriminators for head in d.attribute_logits.values()
    )
    results = tf.function(gan.train_step)(fake_batch(seed=1, class_ids=True))
    assert bool(results["finite"]) is True
    for name in ("generator_auxiliary_loss", "discriminator_auxiliary_loss"):
        assert results[name].dtype == tf.float32 and np.isfinite(results[name].numpy()), name
