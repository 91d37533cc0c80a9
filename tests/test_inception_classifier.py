import numpy as np
import pytest
import tensorflow as tf

from fashion_t2i.metrics.inception_classifier import InceptionClassifier


class _FakeInceptionModule(tf.Module):
    """Stands in for the TF-GAN Inception module: linear maps of the centre pixel."""

    def __init__(self, outputs=("logits", "pool_3")):
        super().__init__()
        rng = np.random.default_rng(0)
        self.logits_kernel = tf.Variable(rng.normal(size=(3, 1008)).astype("float32"))
        self.pool_kernel = tf.Variable(rng.normal(size=(3, 2048)).astype("float32"))
        self.outputs = outputs

    @tf.function(input_signature=[tf.TensorSpec([None, 299, 299, 3], tf.float32)])
    def __call__(self, images):
        centre = images[:, 149, 149, :]
        results = {
            "logits": centre @ self.logits_kernel,
            "pool_3": centre @ self.pool_kernel,
        }
        return {key: results[key] for key in self.outputs}


def _save_module(module, path):
    tf.saved_model.save(
        module, str(path), signatures={"serving_default": module.__call__.get_concrete_function()}
    )
    return str(path)


@pytest.fixture(scope="module")
def hub_module_dir(tmp_path_factory):
    module = _FakeInceptionModule()
    path = _save_module(module, tmp_path_factory.mktemp("hub") / "inception")
    return path, module.logits_kernel.numpy(), module.pool_kernel.numpy()


def test_keras_backend_with_random_weights_gives_probabilities_and_pool():
    classifier = InceptionClassifier(source="keras", weights=None)
    images = np.random.default_rng(0).integers(0, 256, size=(2, 32, 32, 3), dtype=np.uint8)
    probabilities, pool = classifier.predict(images, batch_size=2)
    assert probabilities.shape == (2, 1000) and pool.shape == (2, 2048)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert np.all(pool >= 0)  # average of ReLU outputs


def test_hub_backend_outputs_softmax_of_logits_and_pool(hub_module_dir):
    path, logits_kernel, pool_kernel = hub_module_dir
    classifier = InceptionClassifier(source="hub", handle=path)
    # Constant images: resizing keeps the colour, so the outputs are known.
    colours = np.random.default_rng(1).uniform(-1, 1, size=(5, 3)).astype("float32")
    images = np.broadcast_to(colours[:, None, None, :], (5, 16, 16, 3))
    probabilities, pool = classifier.predict(images, batch_size=2, verbose=True)
    logits = colours @ logits_kernel
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    assert probabilities.shape == (5, 1008) and pool.shape == (5, 2048)
    np.testing.assert_allclose(probabilities, expected, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(pool, colours @ pool_kernel, rtol=1e-4, atol=1e-4)


def test_uint8_images_are_mapped_to_unit_range(hub_module_dir):
    classifier = InceptionClassifier(source="hub", handle=hub_module_dir[0])
    images = np.random.default_rng(2).integers(0, 256, size=(3, 20, 20, 3), dtype=np.uint8)
    from_uint8 = classifier.predict(images)
    from_float = classifier.predict(images.astype("float32") / 127.5 - 1)
    for a, b in zip(from_uint8, from_float):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_hub_module_without_pool_3_names_the_missing_output(tmp_path):
    path = _save_module(_FakeInceptionModule(outputs=("logits",)), tmp_path / "no_pool")
    with pytest.raises(ValueError, match="no 'pool_3' output"):
        InceptionClassifier(source="hub", handle=path)


def test_images_outside_unit_range_raise(hub_module_dir):
    classifier = InceptionClassifier(source="hub", handle=hub_module_dir[0])
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        classifier.predict(np.full((1, 8, 8, 3), 255.0, dtype="float32"))
    with pytest.raises(ValueError, match=r"\[N, H, W, 3\]"):
        classifier.predict(np.zeros((1, 8, 8), dtype="float32"))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"source": "torch"}, ValueError, "source must be one of"),
        ({"source": "hub"}, ValueError, "needs handle"),
        ({"source": "keras", "handle": "x"}, ValueError, "handle is for source='hub'"),
        ({"source": "keras", "weights": "/no/such/weights.h5"}, FileNotFoundError, "weights"),
        ({"source": "hub", "handle": "/no/such/module"}, FileNotFoundError, "module"),
    ],
)
def test_bad_construction_raises(kwargs, error, match):
    with pytest.raises(error, match=match):
        InceptionClassifier(**kwargs)
