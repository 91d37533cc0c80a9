import keras
import numpy as np
import pytest

from fashion_t2i.metrics.attribute_classifier import (
    AttributeClassifier,
    load_attribute_classifier,
    train_attribute_classifier,
)

IMAGE_SIZE = 16
COLOURS = 0.8 * np.array([[1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype="float32")
TINY = {"filters": (8, 16), "embedding_dim": 32}


def _synthetic_products(num, rng):
    """Squares of 3 colours, solid or striped, of random size and place on white, noisy."""
    colour = rng.integers(0, 3, size=num)
    pattern = rng.integers(0, 2, size=num)
    images = np.ones((num, IMAGE_SIZE, IMAGE_SIZE, 3), dtype="float32")
    for i in range(num):
        side = rng.integers(6, 11)
        top, left = rng.integers(0, IMAGE_SIZE - side, size=2)
        square = np.broadcast_to(COLOURS[colour[i]], (side, side, 3)).copy()
        if pattern[i]:
            square[::2] = 1.0  # white stripes
        images[i, top : top + side, left : left + side] = square
    images += rng.normal(0, 0.1, size=images.shape).astype("float32")
    return np.clip(images, -1, 1), {"colour": colour, "pattern": pattern}


@pytest.fixture(scope="module")
def trained():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    images, labels = _synthetic_products(512, rng)
    val_images, val_labels = _synthetic_products(256, rng)
    model, accuracies = train_attribute_classifier(
        images, labels, val_images, val_labels, epochs=8, batch_size=64, **TINY
    )
    return model, accuracies, val_images, val_labels


def test_training_reaches_90_percent_on_held_out_data(trained):
    model, accuracies, val_images, val_labels = trained
    assert set(accuracies) == {"colour", "pattern"}
    assert accuracies["colour"] > 0.9
    assert accuracies["pattern"] > 0.9
    assert model.attribute_accuracy(val_images, {"colour": val_labels["colour"]}) == {
        "colour": accuracies["colour"]
    }


def test_outputs_and_features_shapes():
    model = AttributeClassifier({"class": 10, "colour": 12}, image_size=IMAGE_SIZE, **TINY)
    images = np.zeros((5, IMAGE_SIZE, IMAGE_SIZE, 3), dtype="float32")
    outputs = model(images)
    assert {k: tuple(v.shape) for k, v in outputs.items()} == {"class": (5, 10), "colour": (5, 12)}
    np.testing.assert_allclose(keras.ops.sum(outputs["class"], axis=-1), 1.0, atol=1e-5)
    assert model.features(images, batch_size=2).shape == (5, 32)


def test_save_load_round_trip_gives_identical_predictions(trained, tmp_path):
    model, _, val_images, _ = trained
    path = str(tmp_path / "attributes.keras")
    model.save(path)
    loaded = load_attribute_classifier(path)
    assert isinstance(loaded, AttributeClassifier)
    expected, actual = model.predict(val_images, verbose=0), loaded.predict(val_images, verbose=0)
    for name in expected:
        np.testing.assert_array_equal(expected[name], actual[name])
    np.testing.assert_array_equal(model.features(val_images), loaded.features(val_images))


def test_get_config_round_trip():
    model = AttributeClassifier(
        {"class": 10, "colour": 12, "pattern": 3}, image_size=32, channels=1, dropout=0.1, **TINY
    )
    config = model.get_config()
    assert config["heads"] == {"class": 10, "colour": 12, "pattern": 3}
    assert config["filters"] == [8, 16]
    restored = AttributeClassifier.from_config(config)
    assert restored.get_config() == config
    restored.build((None, 32, 32, 1))
    model.build((None, 32, 32, 1))
    assert restored.count_params() == model.count_params()


def test_wrong_image_size_says_to_resize():
    model = AttributeClassifier({"colour": 3}, image_size=IMAGE_SIZE, **TINY)
    with pytest.raises(ValueError, match="resize"):
        model(np.zeros((1, 32, 32, 3), dtype="float32"))


def test_load_missing_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="train_attribute_classifier"):
        load_attribute_classifier(str(tmp_path / "missing.keras"))


@pytest.mark.parametrize(
    "change, match",
    [
        ({"images": np.full((4, IMAGE_SIZE, IMAGE_SIZE, 3), 255.0)}, r"\[-1, 1\]"),
        ({"images": np.zeros((4, IMAGE_SIZE, 8, 3))}, "S, S, C"),
        ({"val_labels": {"pattern": np.zeros(2, int)}}, "different attributes"),
        ({"labels": {"colour": np.zeros(3, int)}}, r"shape \(4,\)"),
        ({"heads": {"colour": 2}, "labels": {"colour": np.array([0, 1, 2, 0])}}, r"\[0, 2\)"),
        (
            {
                "heads": {"colour": 1},
                "labels": {"colour": np.zeros(4, int)},
                "val_labels": {"colour": np.zeros(2, int)},
            },
            ">= 2 classes",
        ),
    ],
)
def test_bad_training_input_raises(change, match):
    arguments = {
        "images": np.zeros((4, IMAGE_SIZE, IMAGE_SIZE, 3)),
        "labels": {"colour": np.array([0, 1, 0, 1])},
        "val_images": np.zeros((2, IMAGE_SIZE, IMAGE_SIZE, 3)),
        "val_labels": {"colour": np.array([0, 1])},
        "epochs": 1,
        **TINY,
    }
    arguments.update(change)
    with pytest.raises(ValueError, match=match):
        train_attribute_classifier(**arguments)


def _train_tiny(seed, **kwargs):
    rng = np.random.default_rng(1)
    images, labels = _synthetic_products(128, rng)
    val_images, val_labels = _synthetic_products(64, rng)
    return train_attribute_classifier(
        images, labels, val_images, val_labels, epochs=2, batch_size=32, seed=seed,
        **TINY, **kwargs,
    )


@pytest.mark.slow
def test_seed_makes_the_classifier_reproducible():
    first, accuracy = _train_tiny(seed=3)
    again, accuracy_again = _train_tiny(seed=3)
    other, _ = _train_tiny(seed=4)
    assert accuracy == accuracy_again
    for a, b in zip(first.weights, again.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert any(not np.array_equal(a.numpy(), b.numpy()) for a, b in zip(first.weights, other.weights))


@pytest.mark.slow
def test_cosine_decay_ends_the_training_at_learning_rate_zero():
    # 128 images, batch 32, 2 epochs: 8 steps, the last at learning rate 0.
    decayed, _ = _train_tiny(seed=0)
    constant, _ = _train_tiny(seed=0, cosine_decay=False)
    assert decayed.optimizer.iterations.numpy() == 8
    assert float(decayed.optimizer.learning_rate) == pytest.approx(0.0, abs=1e-9)
    assert float(constant.optimizer.learning_rate) == pytest.approx(1e-3)


def test_the_judge_computes_in_float32_under_a_mixed_policy(tmp_path):
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model, _ = _train_tiny(seed=0)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert model.dtype_policy.name == "float32"
    assert {layer.dtype_policy.name for layer in model.trunk_layers} == {"float32"}
    images = _synthetic_products(4, np.random.default_rng(2))[0]
    outputs = model(images, training=False).values()
    assert {keras.backend.standardize_dtype(v.dtype) for v in outputs} == {"float32"}
    # Saved and loaded, it stays so.
    model.save(tmp_path / "judge.keras")
    loaded = load_attribute_classifier(str(tmp_path / "judge.keras"))
    assert {layer.dtype_policy.name for layer in loaded.trunk_layers} == {"float32"}
