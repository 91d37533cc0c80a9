"""serving.server under sustained concurrent load (see benchmarks/serving_load.py).

The server runs as a subprocess on the stand-in model, so its RSS is its
own; 8 client threads send 200 seeded `generate` requests each.
"""

import grpc
import numpy as np
import pytest
import serving_fixtures
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from benchmarks import serving_load
from serving.client import FashionT2IClient

pytestmark = pytest.mark.slow

MODEL_NAME = "fashion_t2i"
THREADS, REQUESTS = 8, 200
MAX_RSS_GROWTH_MB = 50


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """The server after the load, still running, and what the load measured."""
    root = tmp_path_factory.mktemp("serving_load")
    base = root / MODEL_NAME
    serving_fixtures.build_stand_in_model(str(base / "1"))
    server = serving_load.ServerProcess(str(base), MODEL_NAME, log_path=str(root / "server.log"))
    server.start()
    try:
        result = serving_load.run_load(server.target, server.pid, THREADS, REQUESTS, MODEL_NAME)
        yield server, result
    finally:
        assert server.stop() == 0, server._log_tail()


def test_every_request_succeeds_with_its_own_image(loaded):
    _, result = loaded

    assert result.errors == []
    assert result.requests == THREADS * REQUESTS
    assert len(set(result.seeds)) == result.requests
    images, undecodable = serving_load.decode_pngs(result.pngs)
    assert undecodable == 0 and len(images) == result.requests
    # No answer was crossed with another thread's: each is the image of its own text and seed.
    generator = serving_fixtures.StandInGenerator()
    expected = generator.generate(
        tf.constant(result.texts), tf.constant(result.seeds, tf.int64)
    )["images"].numpy()
    np.testing.assert_array_equal(np.stack(images), expected)


def test_server_memory_does_not_grow_under_load(loaded):
    _, result = loaded

    growth_mb = (result.rss_end - result.rss_warm) / serving_load.MB
    assert growth_mb < MAX_RSS_GROWTH_MB, serving_load.report(result, undecodable=0)


def test_bad_request_after_load_is_rejected_and_server_keeps_serving(loaded):
    server, _ = loaded
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL_NAME
    request.model_spec.signature_name = "generate"
    request.inputs["text"].CopyFrom(tf.make_tensor_proto([b"a red dress"], dtype=tf.string))
    request.inputs["seeds"].CopyFrom(tf.make_tensor_proto([1], dtype=tf.int64))

    with grpc.insecure_channel(server.target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.Predict(request, timeout=10)
    with FashionT2IClient(server.target, MODEL_NAME, timeout=10) as client:
        (png,) = client.generate(["a red dress"], seeds=[1])

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "texts" in raised.value.details()
    assert tf.io.decode_png(png).numpy().shape == (
        serving_fixtures.IMAGE_SIZE, serving_fixtures.IMAGE_SIZE, 3
    )
