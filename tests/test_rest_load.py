"""benchmarks.rest_load: concurrent REST calls against a server subprocess get their own images."""

import numpy as np
import pytest
import serving_fixtures
import tensorflow as tf

from benchmarks import rest_load
from benchmarks import serving_load

pytestmark = pytest.mark.slow

MODEL_NAME = "fashion_t2i"
THREADS, REQUESTS = 4, 10


def test_rest_load_answers_every_request_with_its_own_image(tmp_path):
    base = tmp_path / MODEL_NAME
    serving_fixtures.build_stand_in_model(str(base / "1"))
    with serving_load.ServerProcess(str(base), MODEL_NAME, log_path=str(tmp_path / "server.log")) as server:
        assert server.rest_url.startswith("http://127.0.0.1:") and server.rest_url.endswith("/")
        result = rest_load.run_rest_load(server.rest_url, server.pid, THREADS, REQUESTS, MODEL_NAME)

    assert result.errors == [] and result.requests == THREADS * REQUESTS
    images, undecodable = serving_load.decode_pngs(result.pngs)
    assert undecodable == 0
    generator = serving_fixtures.StandInGenerator()
    expected = generator.generate(
        tf.constant(result.texts), tf.constant(result.seeds, tf.int64)
    )["images"].numpy()
    np.testing.assert_array_equal(np.stack(images), expected)
    assert "p99 ms" in rest_load.comparison(result, result)
