"""DAMSM of the smoke preset: one training step, checkpoint round trip, config round trip."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import model_fixtures
from fashion_t2i import checkpointing
from fashion_t2i import losses
from fashion_t2i import networks
from fashion_t2i.models.damsm import DAMSM

VOCAB = model_fixtures.VOCABULARY_SIZE
# The trunk trained in the DAMSM phase, as with random weights in the catalogue preset.
CONFIG = model_fixtures.smoke_config(batch_size=4).replace(model={"train_image_trunk": True})


@pytest.fixture(scope="module")
def damsm():
    keras.utils.set_random_seed(0)
    model = networks.damsm(CONFIG, VOCAB)
    optimizer = keras.optimizers.Adam(CONFIG.train.damsm_learning_rate)
    model.compile(optimizer=optimizer)
    optimizer.build(model.trainable_variables)
    return model


@pytest.fixture(scope="module")
def train_step(damsm):
    # Compiled like train_lib.train_damsm does.
    return tf.function(damsm.train_step)


def all_variables(model):
    return list(model.text_encoder.weights) + list(model.image_encoder.weights)


@pytest.fixture(scope="module")
def first_step(damsm, train_step):
    """Variables before and after one step on a fake batch, and the step's results."""
    text_before = model_fixtures.snapshot(damsm.text_encoder.trainable_variables)
    image_before = model_fixtures.snapshot(damsm.image_encoder.trainable_variables)
    results = train_step(model_fixtures.fake_batch(CONFIG, seed=1))
    return {
        "results": {k: v.numpy() for k, v in results.items()},
        "text_changed": model_fixtures.changed(
            text_before, model_fixtures.snapshot(damsm.text_encoder.trainable_variables)
        ),
        "image_changed": model_fixtures.changed(
            image_before, model_fixtures.snapshot(damsm.image_encoder.trainable_variables)
        ),
    }


def test_smoke_damsm_sizes(damsm):
    assert damsm.similarity == "t2i"
    features = damsm(model_fixtures.fake_batch(CONFIG))
    batch, words = CONFIG.data.batch_size, CONFIG.text.max_words
    dim = CONFIG.model.joint_dim
    assert features["word_features"].shape == (batch, words, dim)
    assert features["sentence_feature"].shape == (batch, dim)
    assert features["region_features"].shape == (batch, 9, dim)
    assert features["global_feature"].shape == (batch, dim)


@pytest.mark.slow
def test_train_step_returns_every_loss_finite(first_step):
    results = first_step["results"]
    assert set(results) == {
        "similarity_loss", "global_loss_1", "global_loss_2", "t2i_loss_1", "t2i_loss_2", "finite"
    }
    assert bool(results.pop("finite"))
    for name, value in results.items():
        assert np.isfinite(value), name
    assert results["similarity_loss"] > 0


def test_train_step_changes_every_text_encoder_variable(first_step):
    assert first_step["text_changed"] and all(first_step["text_changed"])


def test_train_step_changes_image_projections_and_trunk(damsm, first_step):
    paths = [v.path for v in damsm.image_encoder.trainable_variables]
    changed = dict(zip(paths, first_step["image_changed"]))
    projections = [p for p in paths if "projection" in p]
    assert len(projections) == 3  # W, W_bar kernel and bias
    assert all(changed[p] for p in projections)
    # No ImageNet weights: the trunk is trained too.
    assert any(changed[p] for p in paths if "projection" not in p)


@pytest.fixture(scope="module")
def saved_checkpoint(damsm, first_step, tmp_path_factory):
    """A DAMSM-phase checkpoint (encoders, optimizer, step) after one step, and a fresh model."""
    directory = tmp_path_factory.mktemp("workdir") / "damsm"
    checkpoint = checkpointing.damsm_checkpoint(
        damsm, optimizer=damsm.optimizer, step=tf.Variable(1, dtype=tf.int64)
    )
    path = checkpoint.save(str(directory / "ckpt"))
    keras.utils.set_random_seed(123)
    fresh = networks.damsm(CONFIG, VOCAB)
    return {"path": path, "directory": str(directory), "fresh": fresh}


@pytest.mark.slow
def test_checkpoint_round_trip_restores_every_encoder_variable(damsm, saved_checkpoint):
    fresh, path = saved_checkpoint["fresh"], saved_checkpoint["path"]
    saved, restored = all_variables(damsm), all_variables(fresh)
    assert [v.shape for v in restored] == [v.shape for v in saved]
    assert any(
        model_fixtures.changed(model_fixtures.snapshot(saved), model_fixtures.snapshot(restored))
    )
    # What restore_damsm does with the latest checkpoint of workdir/damsm.
    assert tf.train.latest_checkpoint(saved_checkpoint["directory"]) == path
    status = checkpointing.damsm_checkpoint(fresh).restore(path)
    status.expect_partial().assert_existing_objects_matched()
    for a, b in zip(saved, restored):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    batch = model_fixtures.fake_batch(CONFIG, seed=3)
    model_fixtures.assert_same_outputs(fresh(batch), damsm(batch))


def test_checkpoint_resume_restores_optimizer(damsm, saved_checkpoint):
    fresh = saved_checkpoint["fresh"]
    optimizer = keras.optimizers.Adam(CONFIG.train.damsm_learning_rate)
    fresh.compile(optimizer=optimizer)
    optimizer.build(fresh.trainable_variables)
    step = tf.Variable(0, dtype=tf.int64)
    checkpoint = checkpointing.damsm_checkpoint(fresh, optimizer=optimizer, step=step)
    status = checkpoint.restore(saved_checkpoint["path"])
    status.expect_partial()  # silences TF's log only
    status.assert_existing_objects_matched()
    assert int(step.numpy()) == 1
    assert int(optimizer.iterations.numpy()) == 1
    for a, b in zip(damsm.optimizer.variables, optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def test_config_round_trip(damsm):
    config = damsm.get_config()
    copy = DAMSM.from_config(config)
    assert copy.get_config() == config
    assert copy.loss_names == damsm.loss_names
    assert copy.text_encoder.get_config() == damsm.text_encoder.get_config()
    assert copy.image_encoder.get_config() == damsm.image_encoder.get_config()
    for key in ("gamma1", "gamma2", "gamma3", "similarity"):
        assert getattr(copy, key) == getattr(damsm, key) == getattr(CONFIG.model, key)
    assert copy.attention == damsm.attention == CONFIG.model.similarity_attention


def test_losses_use_the_configured_attention(damsm):
    # The DAMSM hands its attention to the loss: with "cosine" its losses are
    # the loss function's with "cosine", and differ from AttnGAN's.
    cosine = DAMSM(damsm.text_encoder, damsm.image_encoder, attention="cosine")
    assert DAMSM.from_config(cosine.get_config()).attention == "cosine"
    # A run's config sets it (networks.damsm).
    config = CONFIG.replace(model={"similarity_attention": "cosine"})
    assert networks.damsm(config, VOCAB).attention == "cosine"
    batch = model_fixtures.fake_batch(CONFIG, seed=5)
    features = damsm(batch, training=False)
    expected = {
        attention: losses.similarity_loss(
            features["word_features"], features["sentence_feature"],
            tf.not_equal(batch["token_ids"], 0),
            features["region_features"], features["global_feature"],
            gamma1=damsm.gamma1, gamma2=damsm.gamma2, gamma3=damsm.gamma3,
            content_ids=batch["content_id"], attention=attention,
        )["t2i_loss_1"].numpy()
        for attention in ("attngan", "cosine")
    }
    got = {
        "attngan": damsm.compute_losses(batch, training=False)["t2i_loss_1"].numpy(),
        "cosine": cosine.compute_losses(batch, training=False)["t2i_loss_1"].numpy(),
    }
    np.testing.assert_allclose(got["attngan"], expected["attngan"], rtol=1e-5)
    np.testing.assert_allclose(got["cosine"], expected["cosine"], rtol=1e-5)
    assert abs(expected["cosine"] - expected["attngan"]) > 1e-4


def test_loss_names_follow_the_similarity_mode(damsm):
    text_encoder, image_encoder = damsm.text_encoder, damsm.image_encoder
    both = DAMSM(text_encoder, image_encoder, similarity="both")
    assert set(both.loss_names) == {
        "similarity_loss", "global_loss_1", "global_loss_2",
        "t2i_loss_1", "t2i_loss_2", "i2t_loss_1", "i2t_loss_2",
    }
    i2t = DAMSM(text_encoder, image_encoder, similarity="i2t")
    assert "t2i_loss_1" not in i2t.loss_names and "i2t_loss_1" in i2t.loss_names


def test_non_finite_batch_leaves_encoders_unchanged(damsm, train_step, first_step):
    variables = all_variables(damsm) + list(damsm.optimizer.variables)
    before = model_fixtures.snapshot(variables)
    try:
        results = train_step(model_fixtures.fake_batch(CONFIG, seed=4, nan_images=True))
        assert not np.isfinite(results["similarity_loss"].numpy())
        after = model_fixtures.snapshot(all_variables(damsm))
        for variable, a, b in zip(all_variables(damsm), before, after):
            np.testing.assert_array_equal(a, b, err_msg=variable.path)
    finally:
        # Put the module's model back for the other tests, whatever happened.
        for variable, value in zip(variables, before):
            variable.assign(value)
