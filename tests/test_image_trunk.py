"""The pretrained image trunk: config, cache (reuse and rebuild), frozen in both phases."""

import json
import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

import model_fixtures
from data_fixtures import tiny_embedded_data
from fashion_t2i import image_trunk
from fashion_t2i import networks
from fashion_t2i import train_lib
from fashion_t2i.config import Config, TrunkConfig, get_preset
from fashion_t2i.data.fashion_gen_reader import FashionGenReader

TINY_TRUNK = {"steps": 2, "batch_size": 4, "num_validation": 8}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Embedded data built from 24 + 8 random 28 px images (labels 0..9 in turn)."""
    return tiny_embedded_data(tmp_path_factory.mktemp("idx"), size=32)


def config_for(data, **trunk):
    train_path, validation_path = data
    return get_preset("smoke").replace(
        data={"train_path": train_path, "validation_path": validation_path},
        model={"image_encoder_weights": "pretrain"},
        trunk=dict(TINY_TRUNK, **trunk),
    )


def readers(config):
    return (
        FashionGenReader.from_config(config.data.train_path, config.data),
        FashionGenReader.from_config(config.data.validation_path, config.data),
    )


def ensure(config, workdir, messages=None):
    log_fn = messages.append if messages is not None else (lambda message: None)
    return image_trunk.ensure_trunk(config, str(workdir), *readers(config), log_fn=log_fn)


@pytest.fixture(scope="module")
def built(data, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("run")
    config = config_for(data)
    messages = []
    path = ensure(config, workdir, messages)
    return {"config": config, "workdir": workdir, "path": path, "messages": messages}


def untrained_trunk(config, *args, **kwargs):
    """A stand-in for `pretrain_trunk`: a random trunk and accuracy 0.5 per head.

    What the cache tests check is when the training is called and what is kept
    of it; the training itself is `built`'s (a minute of tracing each).
    """
    size = config.model.image_encoder_size
    trunk = keras.applications.InceptionV3(
        include_top=False, weights=None, input_shape=(size, size, 3)
    )
    return trunk, {name: 0.5 for name in config.trunk.attributes}


def trunk_values(path, size):
    trunk = keras.applications.InceptionV3(
        include_top=False, weights=path, input_shape=(size, size, 3)
    )
    return [np.array(w) for w in trunk.weights]


# Config.


@pytest.mark.parametrize(
    "fields, match",
    [
        ({"steps": 0}, "steps must be >= 1"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"learning_rate": 0.0}, "learning_rate must be > 0"),
        ({"attributes": ("class", "fit")}, "distinct names of"),
        ({"attributes": ()}, "distinct names of"),
        ({"attributes": ("class", "class")}, "distinct names of"),
    ],
)
def test_trunk_config_rejects_bad_values(fields, match):
    with pytest.raises(ValueError, match=match):
        TrunkConfig(**fields)


def test_trunk_config_json_round_trip_keeps_attributes_a_tuple(tmp_path):
    config = Config().replace(trunk={"attributes": ["colour", "class"], "steps": 7})
    config.save(str(tmp_path))
    loaded = Config.load(str(tmp_path))
    assert loaded.trunk == config.trunk
    assert loaded.trunk.attributes == ("colour", "class")


# Build and cache.


def test_build_writes_weights_and_stamp(built):
    path = built["path"]
    assert path == image_trunk.trunk_weights_path(str(built["workdir"]))
    assert os.path.exists(path)
    info = image_trunk.read_info(str(built["workdir"]))
    assert info["stamp"] == image_trunk.trunk_stamp(built["config"], built["config"].data.train_path)
    assert set(info["accuracy"]) == {"class", "colour", "pattern"}
    assert all(0.0 <= v <= 1.0 for v in info["accuracy"].values())
    assert any("step 2/2" in m for m in built["messages"])
    assert any("trained in" in m for m in built["messages"])
    # Nothing but the weights and the stamp (no temporary directory) is left.
    assert sorted(os.listdir(built["workdir"])) == [image_trunk.DIRNAME]


def test_weights_file_is_a_keras_inception_v3_without_top(built):
    size = built["config"].model.image_encoder_size
    values = trunk_values(built["path"], size)
    fresh = keras.applications.InceptionV3(
        include_top=False, weights=None, input_shape=(size, size, 3)
    )
    assert len(values) == len(fresh.weights)
    # Trained: the stored kernels differ from a random initialisation's.
    assert not np.allclose(values[0], np.array(fresh.weights[0]))


def test_same_config_reuses_the_cached_trunk(built, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the cached trunk was trained again")

    monkeypatch.setattr(image_trunk, "pretrain_trunk", fail)
    messages = []
    before = os.stat(built["path"]).st_mtime_ns
    assert ensure(built["config"], built["workdir"], messages) == built["path"]
    assert os.stat(built["path"]).st_mtime_ns == before
    assert any("reusing" in m for m in messages)


def test_another_workdir_copies_the_trunk_kept_beside_the_data(built, data, tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the trunk kept beside the data was trained again")

    config = built["config"]
    shared = image_trunk.shared_cache_dir(
        image_trunk.trunk_stamp(config, config.data.train_path)
    )
    assert os.path.dirname(os.path.dirname(shared)) == os.path.dirname(config.data.train_path)
    assert image_trunk._read_info(shared) == image_trunk.read_info(str(built["workdir"]))
    monkeypatch.setattr(image_trunk, "pretrain_trunk", fail)
    messages = []
    path = ensure(config, tmp_path / "other", messages)
    assert path == image_trunk.trunk_weights_path(str(tmp_path / "other"))
    with open(path, "rb") as copied, open(built["path"], "rb") as original:
        assert copied.read() == original.read()
    assert image_trunk.read_info(str(tmp_path / "other")) == image_trunk.read_info(
        str(built["workdir"])
    )
    assert any(m.startswith("image trunk: copied the trunk of the same data") for m in messages)
    # Another seed has no trunk beside the data: it is trained.
    with pytest.raises(AssertionError, match="trained again"):
        ensure(config_for(data, seed=3), tmp_path / "third")


def test_a_data_directory_that_cannot_keep_the_trunk_is_only_logged(built, tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    monkeypatch.setattr(
        image_trunk, "shared_cache_dir", lambda stamp: str(blocker / "image_trunks" / "key")
    )
    monkeypatch.setattr(image_trunk, "pretrain_trunk", untrained_trunk)
    messages = []
    path = ensure(built["config"], tmp_path / "run", messages)
    assert os.path.exists(path) and image_trunk.read_info(str(tmp_path / "run"))
    assert any(m.startswith("image trunk: not kept beside the data") for m in messages)


def test_a_copy_that_fails_trains_the_trunk_instead(built, tmp_path, monkeypatch):
    # A copy of the trunk kept beside the data, so that the one of `built` stays.
    config = built["config"]
    shared = str(tmp_path / "image_trunks" / "key")
    shutil.copytree(
        image_trunk.shared_cache_dir(image_trunk.trunk_stamp(config, config.data.train_path)),
        shared,
    )
    monkeypatch.setattr(image_trunk, "shared_cache_dir", lambda stamp: shared)

    def vanished(source, destination):
        raise FileNotFoundError(f"{source} was replaced meanwhile")

    monkeypatch.setattr(image_trunk.shutil, "copytree", vanished)
    calls = []

    def untrained(config, *args, **kwargs):
        calls.append(config)
        return untrained_trunk(config)

    monkeypatch.setattr(image_trunk, "pretrain_trunk", untrained)
    messages = []
    path = ensure(config, tmp_path / "run", messages)
    assert calls == [config] and os.path.exists(path)
    assert any(m.startswith("image trunk: could not copy") for m in messages)
    # Keeping it beside the data failed the same way: logged, the trunk kept.
    assert any(m.startswith("image trunk: not kept beside the data") for m in messages)


@pytest.mark.parametrize(
    "change",
    [
        {"trunk": {"attributes": ("class",)}},
        {"model": {"image_encoder_size": 76}},
    ],
    ids=["attributes", "input_size"],
)
def test_config_change_rebuilds_the_trunk(built, tmp_path, change, monkeypatch):
    workdir = tmp_path / "run"
    os.makedirs(workdir)
    # A copy of the cached trunk, as another run (or a changed preset) finds it.
    shutil.copytree(
        os.path.join(built["workdir"], image_trunk.DIRNAME),
        os.path.join(workdir, image_trunk.DIRNAME),
    )
    calls = []

    def untrained(config, *args, **kwargs):
        calls.append(config)
        return untrained_trunk(config)

    monkeypatch.setattr(image_trunk, "pretrain_trunk", untrained)
    config = built["config"]
    assert ensure(config, workdir) and calls == []  # same config: reused
    sections = {name: dict(fields) for name, fields in change.items()}
    sections.setdefault("trunk", {})
    sections["trunk"] = dict(TINY_TRUNK, **sections["trunk"])
    changed = config.replace(**sections)
    path = ensure(changed, workdir)
    assert calls == [changed]  # trained once, for the changed config
    info = image_trunk.read_info(str(workdir))
    assert info["stamp"] == image_trunk.trunk_stamp(changed, changed.data.train_path)
    assert info["accuracy"] == {name: 0.5 for name in changed.trunk.attributes}
    # The new weights replaced the cached ones, and load at the changed size.
    size = changed.model.image_encoder_size
    assert not np.array_equal(trunk_values(path, size)[0], trunk_values(built["path"], size)[0])
    assert ensure(changed, workdir) == path and len(calls) == 1  # then reused


def test_stamp_follows_every_trunk_field_and_the_training_file(built, data):
    config = built["config"]
    stamp = image_trunk.trunk_stamp(config, data[0])
    for field, value in [("steps", 3), ("batch_size", 5), ("learning_rate", 0.5),
                         ("num_validation", 9), ("seed", 1)]:
        changed = config.replace(trunk={field: value})
        assert image_trunk.trunk_stamp(changed, data[0]) != stamp, field
    assert image_trunk.trunk_stamp(config, data[1]) != stamp


def test_stamp_follows_the_precision_and_keeps_float32_stamps(built, data):
    config = built["config"]
    stamp = image_trunk.trunk_stamp(config, data[0])
    assert config.runtime.mixed_precision == "off" and "mixed_precision" not in stamp
    stamps = {"off": stamp}
    for policy in ("bfloat16", "float16"):
        changed = image_trunk.trunk_stamp(config.replace(runtime={"mixed_precision": policy}), data[0])
        assert changed["mixed_precision"] == policy
        stamps[policy] = changed
    # Three policies, three stamps, three cache directories beside the data.
    assert len({json.dumps(s, sort_keys=True) for s in stamps.values()}) == 3
    assert len({image_trunk.shared_cache_dir(s) for s in stamps.values()}) == 3


def test_rewritten_training_file_rebuilds_the_trunk(built, data, tmp_path):
    stamp = image_trunk.trunk_stamp(built["config"], data[0])
    os.utime(data[0], ns=(stamp["train_file"]["mtime_ns"] + 10**9,) * 2)
    try:
        assert image_trunk.trunk_stamp(built["config"], data[0]) != stamp
    finally:
        os.utime(data[0], ns=(stamp["train_file"]["mtime_ns"],) * 2)
    assert image_trunk.trunk_stamp(built["config"], data[0]) == stamp


def test_interrupted_build_leaves_no_trunk(data, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(image_trunk, "pretrain_trunk", interrupted)
    with pytest.raises(KeyboardInterrupt):
        # Another seed: no trunk of this config is kept beside the data.
        ensure(config_for(data, seed=7), tmp_path)
    assert image_trunk.read_info(str(tmp_path)) is None
    assert not os.path.exists(image_trunk.trunk_weights_path(str(tmp_path)))


def test_data_without_attributes_is_a_clear_error(data, tmp_path, monkeypatch):
    config = config_for(data, seed=8)
    train, validation = readers(config)
    monkeypatch.setattr(train, "has_attributes", False)
    with pytest.raises(ValueError, match="only the embedded Fashion-MNIST data"):
        image_trunk.ensure_trunk(config, str(tmp_path), train, validation, log_fn=print)


@pytest.mark.parametrize(
    "flag, message",
    [
        ("--trunk_attributes=class,fit", "distinct names of"),
        ("--trunk_steps=0", "steps must be >= 1"),
    ],
)
def test_bad_trunk_flags_are_usage_errors(flag, message):
    # In a subprocess: the train module's flags cannot be defined beside other
    # entry points' (`workdir`) in the test process.
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run(
        [sys.executable, "-m", "fashion_t2i.train", "--image_encoder_weights=pretrain", flag],
        cwd=root, env=dict(os.environ, PYTHONPATH=root, TF_CPP_MIN_LOG_LEVEL="3"),
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 1
    assert message in result.stderr


# Frozen in both phases.


def image_trunk_values(damsm):
    return [np.array(w) for w in damsm.image_encoder.trunk.weights]


@pytest.fixture(scope="module")
def pretrained_damsm(built):
    config = built["config"].replace(data={"batch_size": 4})
    keras.utils.set_random_seed(0)
    damsm = train_lib.compiled_damsm(
        config, model_fixtures.VOCABULARY_SIZE, trunk_weights=built["path"]
    )
    return config, damsm


def test_damsm_starts_from_the_pretrained_trunk(built, pretrained_damsm):
    _, damsm = pretrained_damsm
    stored = trunk_values(built["path"], built["config"].model.image_encoder_size)
    loaded = image_trunk_values(damsm)
    assert len(stored) == len(loaded)
    for a, b in zip(stored, loaded):
        np.testing.assert_array_equal(a, b)
    assert damsm.image_encoder.trunk.trainable_weights == []
    assert damsm.image_encoder.region_projection.trainable_weights


def test_trunk_is_frozen_in_damsm_and_gan_training(pretrained_damsm):
    config, damsm = pretrained_damsm
    before = image_trunk_values(damsm)
    projection_before = np.array(damsm.image_encoder.region_projection.kernel)
    step = tf.function(damsm.train_step)
    for seed in range(2):
        step(model_fixtures.fake_batch(config, seed=seed))
    # Batch-norm moving statistics included: every trunk value is unchanged.
    for a, b in zip(before, image_trunk_values(damsm)):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(projection_before, damsm.image_encoder.region_projection.kernel)

    gan_config = config.replace(train={"similarity_weight": 5.0})
    gan = train_lib.compiled_gan(gan_config, damsm)
    generator_before = [np.array(w) for w in gan.generator.trainable_weights]
    gan_step = tf.function(gan.train_step)
    for seed in range(2):
        gan_step(model_fixtures.fake_batch(gan_config, seed=seed))
    for a, b in zip(before, image_trunk_values(damsm)):
        np.testing.assert_array_equal(a, b)
    assert any(
        not np.array_equal(a, b)
        for a, b in zip(generator_before, gan.generator.trainable_weights)
    )


def test_restored_networks_build_without_the_weights_file(built):
    # export / evaluate rebuild the DAMSM and restore it from its checkpoint.
    encoder = networks.image_encoder(built["config"].model)
    assert encoder.weights_source is None
    assert encoder.train_trunk is False


# End to end: `train` builds the trunk, the DAMSM keeps it, another run reuses the file.


@pytest.mark.slow
def test_train_builds_the_trunk_and_another_run_reads_the_file(tmp_path):
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def train(workdir, *flags):
        result = subprocess.run(
            [sys.executable, "-m", "fashion_t2i.train", "--preset=smoke", "--phase=damsm",
             f"--workdir={workdir}", f"--data_dir={tmp_path / 'data'}",
             "--eval_every=0", "--image_every=0", *flags],
            cwd=root, env=dict(os.environ, PYTHONPATH=root), capture_output=True, text=True,
            timeout=900,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        return result.stdout

    first = str(tmp_path / "first")
    out = train(first, "--image_encoder_weights=pretrain", "--trunk_steps=2")
    assert "image trunk: step 2/2" in out and "frozen from here on" in out
    path = image_trunk.trunk_weights_path(first)
    config = Config.load(first)
    assert config.model.image_encoder_weights == "pretrain" and config.trunk.steps == 2

    # The DAMSM checkpoint holds the trunk exactly as pretrained.
    damsm = networks.damsm(config, len(open(os.path.join(first, "vocabulary.txt")).readlines()))
    from fashion_t2i import checkpointing

    checkpointing.restore(
        checkpointing.damsm_checkpoint(damsm), tf.train.latest_checkpoint(f"{first}/damsm")
    )
    for a, b in zip(trunk_values(path, config.model.image_encoder_size),
                    image_trunk_values(damsm)):
        np.testing.assert_array_equal(a, b)

    # Resuming the finished phase neither trains nor reads the trunk again.
    out = train(first, "--image_encoder_weights=pretrain", "--trunk_steps=2")
    assert "image trunk" not in out

    # The file is an ordinary weights file for another run.
    out = train(str(tmp_path / "second"), f"--image_encoder_weights={path}")
    assert "image trunk" not in out
