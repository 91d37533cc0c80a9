"""IS and FID end to end through a local InceptionV3 weights file, and the evaluate CLI's usage errors."""

import os
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest

from fashion_t2i import evaluation
from fashion_t2i.metrics import frechet_distance
from fashion_t2i.metrics import inception_score
from fashion_t2i.metrics.inception_classifier import INCEPTION_SIZE
from fashion_t2i.metrics.inception_classifier import InceptionClassifier

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUM_IMAGES = 4


@pytest.fixture(scope="module")
def inception(tmp_path_factory):
    """`InceptionClassifier` reading a local weights file (random weights, no download)."""
    path = str(tmp_path_factory.mktemp("inception") / "inception_v3.weights.h5")
    keras.utils.set_random_seed(0)
    keras.applications.InceptionV3(
        include_top=True, weights=None, input_shape=(INCEPTION_SIZE, INCEPTION_SIZE, 3)
    ).save_weights(path)
    return InceptionClassifier(source="keras", weights=path)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    noise = rng.uniform(-1.0, 1.0, (NUM_IMAGES, 32, 32, 3)).astype(np.float32)
    # uint8 in [0, 255]: the classifier maps it to [-1, 1] itself.
    flat = np.zeros((NUM_IMAGES, 32, 32, 3), np.uint8)
    flat[:, :, :, 0] = np.linspace(0, 255, NUM_IMAGES).astype(np.uint8)[:, None, None]
    return noise, flat


@pytest.fixture(scope="module")
def predictions(inception, images):
    """The classifier's (probabilities, pool features) of both image sets."""
    return [inception.predict(x) for x in images]


@pytest.mark.slow
def test_inception_metrics_of_two_different_sets(inception, images, predictions):
    (noise_probabilities, noise_pool), (flat_probabilities, flat_pool) = predictions

    metrics = evaluation.inception_metrics(inception, *images)

    assert set(metrics) == {"inception_score", "inception_score_real", "fid"}
    assert noise_probabilities.shape == (NUM_IMAGES, 1000) and noise_pool.shape == (NUM_IMAGES, 2048)
    # IS of each set's own probabilities, in NUM_IMAGES // 2 splits.
    for key, probabilities in [("inception_score_real", noise_probabilities), ("inception_score", flat_probabilities)]:
        expected = inception_score.inception_score(probabilities, NUM_IMAGES // 2)
        np.testing.assert_allclose(metrics[key], expected, rtol=1e-5)
    # FID of the pool features (not the probabilities), at least the squared
    # distance of the means, which differ.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        expected_fid = frechet_distance.frechet_distance(noise_pool, flat_pool)
    mean_term = float(np.sum((noise_pool.mean(0) - flat_pool.mean(0)) ** 2.0))
    assert metrics["fid"] == pytest.approx(expected_fid, rel=1e-4)
    assert mean_term > 0 and metrics["fid"] >= mean_term * (1 - 1e-4)


@pytest.mark.slow
def test_fid_of_a_set_with_itself_is_zero(inception, images, predictions):
    (_, noise_pool), (_, flat_pool) = predictions
    mean_term = float(np.sum((noise_pool.mean(0) - flat_pool.mean(0)) ** 2.0))

    metrics = evaluation.inception_metrics(inception, images[0], images[0])

    assert metrics["fid"] <= 1e-6 * mean_term
    assert metrics["inception_score"] == metrics["inception_score_real"]


def test_a_missing_weights_file_is_named(tmp_path):
    missing = str(tmp_path / "nope.weights.h5")
    with pytest.raises(FileNotFoundError, match=r"InceptionV3 weights file not found: .*nope\.weights\.h5"):
        InceptionClassifier(source="keras", weights=missing)


def test_evaluate_rejects_too_few_images_before_looking_for_a_run(tmp_path):
    # The workdir is empty: the usage error must come before any restore.
    completed = subprocess.run(
        [
            sys.executable, "-m", "fashion_t2i.evaluate",
            "--workdir", str(tmp_path), "--num_images", "1", "--metrics", "r_precision",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )

    assert completed.returncode != 0
    assert "--num_images must be >=" in completed.stderr
    assert "GAN checkpoint" not in completed.stderr
    assert os.listdir(tmp_path) == []
